// Home: one card per zone, the big buttons, and the confirmation dialog they open.
import { send } from "./api.js";
import { alarmText, decisionText, errorText, has } from "./i18n.js";
import {
  $,
  $$,
  clock,
  dateTime,
  fmt,
  parseTime,
  percent,
  percentText,
  relative,
  roleAtLeast,
  setAttr,
  setText,
  state,
  tr,
} from "./state.js";

const PENDING_MS = 15000; // after a press, wait this long for the valve to answer
const STALE_MS = 15 * 60 * 1000; // a reading older than this is shown as stale
const GAUGE_MAX = 0.6; // m3/m3 at the right end of the gauge
const LEVEL_ICON = { dry: "#i-sun", good: "#i-check", wet: "#i-drop", none: "#i-question" };
const VALVE = {
  open: ["valve_open", "#i-drops"],
  closed: ["valve_closed", "#i-off"],
  offline: ["valve_offline", "#i-offline"],
  unknown: ["valve_unknown", "#i-question"],
};
const BUTTON_TEXT = { water: "btn_water", stop: "btn_stop", pause: "btn_pause", resume: "btn_resume" };

const cards = new Map(); // zone id -> <section> on the home list
let refresh = () => {}; // set by app.js: fetch the zones again now

export function setRefresh(fn) {
  refresh = fn;
}

function level(z) {
  if (z.moisture == null) return "none";
  if (["dry", "good", "wet"].includes(z.moisture_word)) return z.moisture_word;
  if (z.moisture < z.thresholds.start) return "dry";
  if (z.moisture < z.thresholds.stop) return "good";
  return "wet";
}

function valveKey(v) {
  return [v?.state, v?.since, v?.until, v?.command_id].join("|");
}

/** Paused until (ms): from the API, or from our own press until the API sends it. */
function pausedUntil(z) {
  const at = "paused_until" in z ? parseTime(z.paused_until) : state.paused.get(z.id);
  return at && at > Date.now() ? at : null;
}

function cropName(crop) {
  const key = `crop_${crop}`;
  return has(state.lang, key) ? tr(key) : String(crop).replace(/_/g, " ");
}

/** Forget presses the valve has answered (its state changed since the press). */
export function settlePending() {
  for (const z of state.zones ?? []) {
    const p = state.pending.get(z.id);
    if (p && valveKey(z.valve) !== p.key) state.pending.delete(z.id);
  }
}

/** After logging out nothing of the farm stays on the screen (phones are shared). */
export function clearHome() {
  for (const card of cards.values()) card.remove();
  cards.clear();
  state.pending.clear();
  state.errors.clear();
  state.paused.clear();
}

export function renderHome() {
  const main = $("#zones");
  if (!state.zones) return; // still loading (the banner says if it fails)
  setAttr(main, "aria-busy", "false");
  const loading = $("#loading");
  loading.hidden = state.zones.length > 0;
  if (!state.zones.length) setText(loading, tr("no_zones"));
  const seen = new Set();
  state.zones.forEach((z, i) => {
    seen.add(z.id);
    let card = cards.get(z.id);
    if (!card) {
      card = newCard(z, "home");
      cards.set(z.id, card);
    }
    // move only when out of order: moving a node would drop the keyboard focus
    if (main.children[i] !== card) main.insertBefore(card, main.children[i] ?? null);
    fillCard(card, z);
  });
  for (const [id, card] of cards) {
    if (!seen.has(id)) {
      card.remove();
      cards.delete(id);
    }
  }
}

export function newCard(z, where) {
  const card = $("#zone-template").content.firstElementChild.cloneNode(true);
  const nameId = `zone-name-${where}-${String(z.id).replace(/[^\w-]/g, "_")}`;
  card.dataset.zone = z.id;
  card.setAttribute("aria-labelledby", nameId);
  $(".zone-name", card).id = nameId;
  if (where === "page") {
    // the page's own heading names the zone; a second region of the same name would be noise
    card.removeAttribute("aria-labelledby");
    $(".details", card).remove();
    $(".zone-name", card).classList.add("sr-only");
  }
  return card;
}

export function fillCard(card, z) {
  const now = Date.now();
  const lvl = level(z);
  const at = parseTime(z.moisture_at);
  const cached = state.failing; // no answer from the server: everything shown is old
  const stale = z.moisture != null && (cached || z.moisture_stale || (at != null && now - at > STALE_MS));
  const start = percent(z.thresholds.start, 1);
  const stop = percent(z.thresholds.stop, 1);

  setText($(".zone-name", card), z.name);
  setText($(".zone-crop", card), tr("crop_label", { crop: cropName(z.crop) }));

  // moisture: icon + number + word, and the gauge with the two threshold marks
  const box = $(".moisture", card);
  setAttr(box, "data-level", lvl);
  setAttr(box, "data-stale", stale ? "true" : "false");
  setAttr($(".level-icon use", card), "href", LEVEL_ICON[lvl]);
  const word = lvl === "none" ? tr("no_reading") : tr(`level_${lvl}`);
  setText($(".moisture-value", card), z.moisture == null ? "" : percentText(z.moisture));
  setText($(".level-word", card), word);
  // with a reading the meter speaks for the row; without one the row says "no reading"
  setAttr($(".moisture-row", card), "aria-hidden", z.moisture == null ? null : "true");

  const gauge = $(".gauge", card);
  gauge.hidden = z.moisture == null;
  $(".gauge-legend", card).hidden = z.moisture == null;
  if (z.moisture != null) {
    const pos = (v) => `${Math.min(100, Math.max(0, (v / GAUGE_MAX) * 100))}%`;
    let text = tr("gauge_text", { value: percent(z.moisture, 1), level: word, start, stop });
    if (stale) text += ` ${tr("stale_long")}.`;
    setAttr(gauge, "aria-label", tr("moisture_label"));
    setAttr(gauge, "aria-valuemax", String(GAUGE_MAX * 100));
    setAttr(gauge, "aria-valuenow", String(Math.round(z.moisture * 1000) / 10));
    setAttr(gauge, "aria-valuetext", text);
    $(".gauge-fill", gauge).style.width = pos(z.moisture);
    gauge.style.setProperty("--start", pos(z.thresholds.start));
    gauge.style.setProperty("--stop", pos(z.thresholds.stop));
    setText($(".legend-start", card), tr("legend_start", { start }));
    setText($(".legend-stop", card), tr("legend_stop", { stop }));
  }
  setText($(".reading-age", card), at == null ? "" : tr("measured", { ago: relative(at) }));
  $(".stale-badge", card).hidden = !stale;
  setText($(".stale-word", card), tr("stale"));

  fillValve(card, z, now);
  fillPlan(card, z);
  fillButtons(card, z);
}

function fillValve(card, z, now) {
  const v = z.valve ?? { state: "unknown" };
  const [key, icon] = VALVE[v.state] ?? VALVE.unknown;
  let text = tr(key);
  const until = parseTime(v.until);
  if (v.state === "open" && until) text += ` ${tr("valve_until", { time: clock(until) })}`;
  let shown = v.state in VALVE ? v.state : "unknown";
  let shownIcon = icon;
  const p = state.pending.get(z.id);
  if (p && now - p.at <= PENDING_MS) {
    shown = "pending";
    shownIcon = "#i-wait";
    text = tr(`pending_${p.action === "resume" ? "water" : p.action}`);
  } else if (p) {
    shown = "no-answer";
    shownIcon = "#i-warn";
    text = `${tr("no_answer")} (${text})`;
  }
  const row = $(".valve", card);
  setAttr(row, "data-valve-state", shown);
  setAttr($(".valve-icon use", row), "href", shownIcon);
  setText($(".valve-label", row), tr("valve_label"));
  setText($(".valve-text", row), text);
}

function fillPlan(card, z) {
  const paused = pausedUntil(z);
  const next = parseTime(z.next_run_at);
  let text = tr("next_run_none");
  if (paused) text = tr("paused_until", { time: dateTime(paused) });
  else if (next) {
    // a dry zone inside its window may be due already: that is "now", never "5 minutes ago"
    const when = next > Date.now() + 60_000 ? `${dateTime(next)} (${relative(next)})` : relative(Date.now());
    text = tr("next_run", { when });
  }
  setText($(".next-run-text", card), text);
  setAttr($(".next-run", card), "data-paused", paused ? "true" : "false");

  const alarm = z.last_alarm;
  $(".last-alarm", card).hidden = !alarm;
  if (alarm) {
    const ago = relative(parseTime(alarm.raised_at) ?? Date.now());
    setText($(".last-alarm-text", card), `${tr("last_alarm", { text: alarmText(state.lang, alarm) })} (${ago})`);
  }

  const err = state.errors.get(z.id);
  const errBox = $(".zone-error", card);
  errBox.hidden = !err;
  setText(errBox, err ? tr("send_failed", { detail: err }) : "");

  const d = z.last_decision;
  const dAt = parseTime(d?.ts);
  const decision = $(".decision", card);
  decision.hidden = !d;
  const reason = d ? decisionText(state.lang, d, fmt) : "";
  setText(decision, d ? tr("last_decision", { ago: dAt ? relative(dAt) : "", reason }) : "");
}

function fillButtons(card, z) {
  const busy = state.busy.has(z.id);
  const paused = pausedUntil(z) != null;
  $(".actions", card).hidden = !roleAtLeast("farmer");
  for (const btn of $$("button[data-action]", card)) {
    const action = btn.dataset.action;
    if (action === "pause") btn.hidden = paused;
    if (action === "resume") btn.hidden = !paused;
    setText($(".btn-text", btn), tr(BUTTON_TEXT[action]));
    setText($(".btn-zone", btn), ` – ${z.name}`);
    setAttr(btn, "aria-disabled", busy ? "true" : null);
  }
  const details = $(".details", card);
  if (details) {
    setAttr(details, "href", `#/zone/${encodeURIComponent(z.id)}`);
    setText($(".btn-text", details), tr("btn_details"));
    setText($(".btn-zone", details), ` – ${z.name}`);
  }
}

// ---------- presses ----------

async function press(zoneId, action, extra) {
  const zone = state.zones?.find((z) => z.id === zoneId);
  if (!zone || state.busy.has(zoneId)) return;
  state.busy.add(zoneId);
  state.errors.delete(zoneId);
  const key = valveKey(zone.valve);
  refreshCards();
  try {
    await send("POST", `/zones/${encodeURIComponent(zoneId)}/${action}`, extra);
    if (action === "water" || action === "stop") state.pending.set(zoneId, { action, at: Date.now(), key });
    if (action === "pause") state.paused.set(zoneId, parseTime(extra.until));
    if (action === "resume") state.paused.delete(zoneId);
  } catch (err) {
    state.pending.delete(zoneId);
    state.errors.set(zoneId, errorText(state.lang, err));
  } finally {
    state.busy.delete(zoneId);
  }
  refreshCards();
  refresh();
}

async function waterEverything(minutes) {
  const box = $("#all-result");
  setText(box, "");
  try {
    await send("POST", "/water-everything", { minutes });
    setText(box, tr("all_sent", { n: minutes }));
  } catch (err) {
    setText(box, tr("send_failed", { detail: errorText(state.lang, err) }));
  }
  refresh();
}

function refreshCards() {
  for (const card of $$("section.zone[data-zone]")) {
    const z = state.zones?.find((x) => x.id === card.dataset.zone);
    if (z) fillCard(card, z);
  }
}

// ---------- confirmation dialog ----------

let asked = null; // {zoneId, action, opener} while the dialog is open

export function ask(zoneId, action, opener) {
  const dialog = $("#confirm");
  const zone = state.zones?.find((z) => z.id === zoneId);
  if (action !== "water-all" && !zone) return;
  asked = { zoneId, action, opener };
  const titles = {
    water: "confirm_water_title",
    stop: "confirm_stop_title",
    pause: "confirm_pause_title",
    resume: "confirm_resume_title",
    "water-all": "confirm_all_title",
  };
  setText($("#confirm-title"), tr(titles[action], { zone: zone?.name ?? "" }));
  const texts = { stop: "confirm_stop_text", "water-all": "confirm_all_text" };
  const text = $("#confirm-text");
  text.hidden = !texts[action];
  setText(text, texts[action] ? tr(texts[action]) : "");
  const minutes = action === "water" || action === "water-all";
  $("#minutes").hidden = !minutes;
  $("#pause-for").hidden = action !== "pause";
  $('#minutes input[value="10"]').checked = true;
  $('#pause-for input[value="24"]').checked = true;
  setAttr(dialog, "data-action", action);
  dialog.returnValue = "";
  dialog.showModal();
  const first = minutes ? "#minutes input:checked" : action === "pause" ? "#pause-for input:checked" : null;
  (first ? $(first) : $('button[value="confirm"]', dialog)).focus();
}

function onClose() {
  const dialog = $("#confirm");
  const a = asked;
  asked = null;
  if (!a) return;
  if (a.opener?.isConnected) a.opener.focus();
  if (dialog.returnValue !== "confirm") return;
  const minutes = Number($("#minutes input:checked")?.value ?? 10);
  if (a.action === "water-all") waterEverything(minutes);
  else if (a.action === "water") press(a.zoneId, "water", { minutes });
  else if (a.action === "pause") {
    const hours = Number($("#pause-for input:checked")?.value ?? 24);
    press(a.zoneId, "pause", { until: new Date(Date.now() + hours * 3600_000).toISOString() });
  } else press(a.zoneId, a.action);
}

export function wireHome() {
  $("#confirm").addEventListener("close", onClose);
  document.addEventListener("click", (e) => {
    const btn = e.target.closest("button[data-action]");
    if (!btn || btn.getAttribute("aria-disabled") === "true") return;
    if (btn.dataset.action === "water-all") return ask(null, "water-all", btn);
    const card = btn.closest("section.zone[data-zone]");
    if (card && btn.dataset.action in BUTTON_TEXT) ask(card.dataset.zone, btn.dataset.action, btn);
  });
}
