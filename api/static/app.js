// Phone page: polls the zones, shows one card per zone, sends "water now" / "stop".
// Plain ES module, no framework. Data from the server only ever goes into textContent.
import { DEFAULT_LANG, LANGS, has, t } from "./i18n.js";

const API = "/api/v1";
const POLL_MS = 2000; // poll the zones this often
const PENDING_MS = 15000; // after a press, wait this long for the valve to answer
const STALE_MS = 15 * 60 * 1000; // a reading older than this is shown as stale
const FETCH_TIMEOUT_MS = 8000;
const GAUGE_MAX = 0.6; // m3/m3 at the right end of the gauge
const LANG_KEY = "smartfarm.lang";

const LEVEL_ICON = { dry: "#i-sun", good: "#i-check", wet: "#i-drop", none: "#i-question" };
const VALVE = {
  open: ["valve_open", "#i-drops"],
  closed: ["valve_closed", "#i-off"],
  offline: ["valve_offline", "#i-offline"],
  unknown: ["valve_unknown", "#i-question"],
};

const state = {
  lang: loadLang(),
  farm: null,
  zones: null, // last list the server gave us; kept while the connection is down
  lastOk: null, // when that list arrived (ms)
  failing: false, // the last poll failed
  pending: new Map(), // zone id -> {action, at, key}: a press the valve has not answered yet
  errors: new Map(), // zone id -> {detail}: the last press could not be sent
  busy: new Set(), // zone ids with a request in flight
};

const $ = (sel, root = document) => root.querySelector(sel);
const tr = (key, params) => t(state.lang, key, params);
const main = $("#zones");
const dialog = $("#confirm");
const cards = new Map(); // zone id -> <section>

class ApiError extends Error {}

// ---------- small helpers ----------

function loadLang() {
  try {
    const saved = localStorage.getItem(LANG_KEY);
    if (LANGS.includes(saved)) return saved;
  } catch {
    // storage can be off in private mode; use the default
  }
  return DEFAULT_LANG;
}

function saveLang(lang) {
  try {
    localStorage.setItem(LANG_KEY, lang);
  } catch {
    // not remembered, still switched
  }
}

/** Only touch the DOM when the text really changes (keeps live regions quiet). */
function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

function setAttr(el, name, value) {
  if (value === null) el.removeAttribute(name);
  else if (el.getAttribute(name) !== String(value)) el.setAttribute(name, value);
}

/** ISO time from the API to ms; a time without a zone is taken as UTC. */
function parseTime(iso) {
  if (!iso) return null;
  const withZone = /([zZ]|[+-]\d\d:?\d\d)$/.test(iso) ? iso : `${iso}Z`;
  const ms = Date.parse(withZone);
  return Number.isNaN(ms) ? null : ms;
}

function percent(vwc, digits = 0) {
  return new Intl.NumberFormat(state.lang, { maximumFractionDigits: digits }).format(vwc * 100);
}

function clock(ms) {
  const fmt = new Intl.DateTimeFormat(state.lang, {
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
  });
  return fmt.format(ms);
}

function ago(ms) {
  const rtf = new Intl.RelativeTimeFormat(state.lang, { numeric: "auto" });
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 10) return rtf.format(0, "second");
  if (s < 60) return rtf.format(-s, "second");
  if (s < 3600) return rtf.format(-Math.floor(s / 60), "minute");
  if (s < 86400) return rtf.format(-Math.floor(s / 3600), "hour");
  return rtf.format(-Math.floor(s / 86400), "day");
}

function cropName(crop) {
  const key = `crop_${crop}`;
  return has(state.lang, key) ? tr(key) : String(crop).replace(/_/g, " ");
}

function level(z) {
  if (z.moisture == null) return "none";
  if (z.moisture < z.thresholds.start) return "dry";
  if (z.moisture < z.thresholds.stop) return "good";
  return "wet";
}

function valveKey(v) {
  return [v.state, v.since, v.until, v.command_id].join("|");
}

/** FastAPI's {"detail": ...} as one line of text. */
function detailText(body) {
  const d = body?.detail;
  if (typeof d === "string") return d;
  if (Array.isArray(d)) return d.map((e) => e?.msg ?? JSON.stringify(e)).join("; ");
  if (d && typeof d === "object") return (d.problems ?? [JSON.stringify(d)]).join("; ");
  return "";
}

// ---------- talking to the server ----------

async function request(path, options = {}) {
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), FETCH_TIMEOUT_MS);
  try {
    const res = await fetch(`${API}${path}`, { cache: "no-store", ...options, signal: ctrl.signal });
    const body = await res.json().catch(() => null);
    if (!res.ok) throw new ApiError(detailText(body) || `HTTP ${res.status}`);
    return body;
  } finally {
    clearTimeout(timer);
  }
}

let pollTimer = null;
let polling = false;
let pollAgain = false;

async function poll() {
  if (polling) {
    pollAgain = true;
    return;
  }
  polling = true;
  clearTimeout(pollTimer);
  try {
    if (!state.farm) state.farm = await request("/farm").catch(() => null);
    const zones = await request("/zones");
    if (!Array.isArray(zones)) throw new ApiError("bad zones list");
    for (const z of zones) {
      const p = state.pending.get(z.id);
      if (p && valveKey(z.valve) !== p.key) state.pending.delete(z.id);
    }
    state.zones = zones;
    state.lastOk = Date.now();
    state.failing = false;
  } catch {
    state.failing = true;
  } finally {
    polling = false;
  }
  render();
  const delay = pollAgain ? 0 : POLL_MS;
  pollAgain = false;
  if (!document.hidden) pollTimer = setTimeout(poll, delay);
}

async function send(zoneId, action, minutes) {
  const zone = state.zones?.find((z) => z.id === zoneId);
  if (!zone || state.busy.has(zoneId)) return;
  state.busy.add(zoneId);
  state.errors.delete(zoneId);
  const key = valveKey(zone.valve);
  render();
  try {
    await request(`/zones/${encodeURIComponent(zoneId)}/${action}`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: action === "water" ? JSON.stringify({ minutes }) : undefined,
    });
    state.pending.set(zoneId, { action, at: Date.now(), key });
  } catch (err) {
    state.pending.delete(zoneId);
    state.errors.set(zoneId, { detail: err instanceof ApiError ? err.message : null });
  } finally {
    state.busy.delete(zoneId);
  }
  render();
  poll();
}

// ---------- rendering ----------

function render() {
  document.documentElement.lang = state.lang;
  const title = tr("app_title");
  document.title = state.farm?.name ? `${state.farm.name} – ${title}` : title;
  setText($("#farm-name"), state.farm?.name ?? title);
  for (const el of document.querySelectorAll("[data-i18n]")) setText(el, tr(el.dataset.i18n));
  for (const el of document.querySelectorAll("[data-minutes]")) {
    setText(el, tr("minutes_option", { n: el.dataset.minutes }));
  }
  const toggle = $("#lang-toggle");
  setAttr(toggle, "aria-label", tr("lang_toggle_label"));
  setAttr(toggle, "data-current", state.lang);
  renderBanner();
  renderZones();
}

function renderBanner() {
  const banner = $("#banner");
  let text = "";
  if (state.failing) {
    text = tr("conn_lost");
    if (state.lastOk) text += ` ${tr("conn_stale", { time: clock(state.lastOk) })}`;
  }
  setAttr(banner, "data-state", state.failing ? "lost" : "ok");
  setText(banner, text);
}

function renderZones() {
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
      card = newCard(z, i);
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

function newCard(z, i) {
  const card = $("#zone-template").content.firstElementChild.cloneNode(true);
  const nameId = `zone-name-${i}-${String(z.id).replace(/[^\w-]/g, "_")}`;
  card.dataset.zone = z.id;
  card.setAttribute("aria-labelledby", nameId);
  $(".zone-name", card).id = nameId;
  return card;
}

function fillCard(card, z) {
  const now = Date.now();
  const lvl = level(z);
  const at = parseTime(z.moisture_at);
  const stale = z.moisture != null && (z.moisture_stale || (at != null && now - at > STALE_MS));
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
  setText($(".moisture-value", card), z.moisture == null ? "" : `${percent(z.moisture)}%`);
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
  setText($(".reading-age", card), at == null ? "" : tr("measured", { ago: ago(at) }));
  $(".stale-badge", card).hidden = !stale;
  setText($(".stale-word", card), tr("stale"));

  fillValve(card, z, now);

  const err = state.errors.get(z.id);
  const errBox = $(".zone-error", card);
  errBox.hidden = !err;
  setText(errBox, err ? tr("send_failed", { detail: err.detail || tr("network_error") }) : "");

  const d = z.last_decision;
  const dAt = parseTime(d?.ts);
  const decision = $(".decision", card);
  decision.hidden = !d;
  setText(decision, d ? tr("last_decision", { ago: dAt ? ago(dAt) : "", reason: d.reason }) : "");

  const busy = state.busy.has(z.id);
  for (const btn of card.querySelectorAll("button[data-action]")) {
    setText($(".btn-text", btn), tr(btn.dataset.action === "water" ? "btn_water" : "btn_stop"));
    setText($(".btn-zone", btn), ` – ${z.name}`);
    setAttr(btn, "aria-disabled", busy ? "true" : null);
  }
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
    text = tr(p.action === "water" ? "pending_water" : "pending_stop");
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

// ---------- confirmation dialog ----------

let asked = null; // {zoneId, action, opener} while the dialog is open

function ask(zoneId, action, opener) {
  const zone = state.zones?.find((z) => z.id === zoneId);
  if (!zone) return;
  asked = { zoneId, action, opener };
  const water = action === "water";
  setText($("#confirm-title"), tr(water ? "confirm_water_title" : "confirm_stop_title", { zone: zone.name }));
  const text = $("#confirm-text");
  text.hidden = water;
  setText(text, water ? "" : tr("confirm_stop_text"));
  $("#minutes").hidden = !water;
  $('#minutes input[value="10"]').checked = true;
  setAttr(dialog, "data-action", action);
  dialog.returnValue = "";
  dialog.showModal();
  (water ? $("#minutes input:checked") : $('button[value="confirm"]', dialog)).focus();
}

dialog.addEventListener("close", () => {
  const a = asked;
  asked = null;
  if (!a) return;
  a.opener?.focus();
  if (dialog.returnValue !== "confirm") return;
  const minutes = Number($("#minutes input:checked")?.value ?? 10);
  send(a.zoneId, a.action, a.action === "water" ? minutes : undefined);
});

// ---------- wiring ----------

main.addEventListener("click", (e) => {
  const btn = e.target.closest("button[data-action]");
  const card = btn?.closest("section.zone");
  if (!card || btn.getAttribute("aria-disabled") === "true") return;
  ask(card.dataset.zone, btn.dataset.action, btn);
});

$("#lang-toggle").addEventListener("click", () => {
  state.lang = state.lang === "vi" ? "en" : "vi";
  saveLang(state.lang);
  render();
});

document.addEventListener("visibilitychange", () => {
  if (!document.hidden) poll();
});
window.addEventListener("online", () => poll());

render();
poll();
