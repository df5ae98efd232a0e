// Zone page: the zone's card, its moisture history chart (day, week, season) and the
// decision log in plain words; and the live events that update any zone.
import { get } from "./api.js";
import { asPct, drawChart } from "./chart.js";
import { decisionText, errorText } from "./i18n.js";
import { fillCard, newCard } from "./home.js";
import { $, $$, clock, dateTime, el, fmt, num, parseTime, setAttr, setText, state, tr } from "./state.js";

const RANGE_HOURS = { day: 24, week: 24 * 7, season: 24 * 120 };
const DECISIONS = 50;

let current = null; // {id, range, card, history, decisions, error}

export function clearZone() {
  current = null;
  $("#zone-card-slot").replaceChildren();
  $("#chart").replaceChildren();
  $("#decisions").replaceChildren();
  setText($("#chart-summary"), "");
}

export function showZone(id) {
  const slot = $("#zone-card-slot");
  slot.replaceChildren();
  current = { id, range: "day", card: null, history: null, decisions: null, error: null };
  for (const chip of $$(".chip[data-range]")) {
    chip.onclick = () => {
      current.range = chip.dataset.range;
      loadHistory();
    };
  }
  loadHistory();
  loadDecisions();
}

async function loadHistory() {
  const { id, range } = current;
  for (const chip of $$(".chip[data-range]")) setAttr(chip, "aria-pressed", String(chip.dataset.range === range));
  try {
    // `hours` too: the older route takes it and ignores `range`, the newer one the other way
    const path = `/zones/${encodeURIComponent(id)}/history?range=${range}&hours=${RANGE_HOURS[range]}`;
    const history = await get(path);
    if (current?.id === id && current.range === range) current.history = history;
  } catch (err) {
    if (current?.id === id) current.error = errorText(state.lang, err);
  }
  renderZonePage();
}

async function loadDecisions() {
  const { id } = current;
  try {
    const list = await get(`/decisions?zone=${encodeURIComponent(id)}&limit=${DECISIONS}`);
    if (current?.id === id) current.decisions = list;
  } catch (err) {
    if (current?.id === id) current.error = errorText(state.lang, err);
  }
  renderZonePage();
}

export function renderZonePage() {
  if (!current) return;
  const zone = state.zones?.find((z) => z.id === current.id);
  setText($("#zone-title"), zone?.name ?? current.id);
  if (zone) {
    if (!current.card) {
      current.card = newCard(zone, "page");
      $("#zone-card-slot").replaceChildren(current.card);
    }
    fillCard(current.card, zone);
  }
  renderChart(zone);
  renderDecisions();
}

/** The history answer in the chart's terms, whatever the exact shape of its points. */
function chartData(h, zone) {
  const end = parseTime(h.end) ?? Date.now();
  const start = parseTime(h.start) ?? end - RANGE_HOURS[current.range] * 3600_000;
  const bySensor = new Map();
  for (const p of h.points ?? []) {
    const v = p.vwc ?? p.moisture ?? p.mean ?? p.value;
    const t = parseTime(p.ts ?? p.at ?? p.time);
    if (v == null || t == null) continue;
    const key = p.sensor ?? "";
    if (!bySensor.has(key)) bySensor.set(key, []);
    // hourly points carry the hour's lowest and highest reading: drawn as a band around the line
    const range = p.vwc_min != null && p.vwc_max != null ? [asPct(p.vwc_min), asPct(p.vwc_max)] : [];
    bySensor.get(key).push([t, asPct(v), ...range]);
  }
  const series = [...bySensor.values()].map((s) => s.sort((a, b) => a[0] - b[0]));
  const th = h.thresholds ?? zone?.thresholds;
  const thresholds = th
    ? { start: asPct(th.start_pct ?? th.start), stop: asPct(th.stop_pct ?? th.stop) }
    : null;
  const irrigation = (h.irrigation ?? [])
    .map((r) => ({ start: parseTime(r.start), end: parseTime(r.end) ?? end, litres: r.litres }))
    .filter((r) => r.start != null);
  return { start, end, series, thresholds, irrigation };
}

function renderChart(zone) {
  const box = $("#chart");
  const summary = $("#chart-summary");
  if (current.error && !current.history) {
    setText(summary, tr("load_failed", { detail: current.error }));
    box.replaceChildren();
    return;
  }
  if (!current.history) return;
  const data = chartData(current.history, zone);
  const values = data.series.flat().map((p) => p[1]);
  $(".key-range").closest("li").hidden = !data.series.some((s) => s.some((p) => p.length > 2));
  const dayFmt = new Intl.DateTimeFormat(state.lang, { day: "numeric", month: "short" });
  drawChart(box, data, {
    title: `${tr("chart_title")}: ${zone?.name ?? current.id}`,
    tickTime: (t) => clock(t),
    tickDay: (t) => dayFmt.format(t),
  });
  if (!values.length) {
    setText(summary, tr("chart_empty"));
    return;
  }
  const last = data.series.map((s) => s.at(-1)).sort((a, b) => a[0] - b[0]).at(-1);
  setText(
    summary,
    tr("chart_summary", {
      from: dateTime(data.start),
      to: dateTime(data.end),
      min: num(Math.min(...values)),
      max: num(Math.max(...values)),
      last: num(last[1]),
      runs: data.irrigation.length,
    }),
  );
}

function renderDecisions() {
  const list = $("#decisions");
  if (!current.decisions) return;
  if (!current.decisions.length) {
    list.replaceChildren(el("li", { class: "empty" }, tr("decisions_empty")));
    return;
  }
  list.replaceChildren(
    ...current.decisions.map((d) => {
      const li = el("li", { "data-code": d.code ?? "" });
      li.append(el("time", { datetime: d.ts }, dateTime(d.ts)), el("span", {}, decisionText(state.lang, d, fmt)));
      return li;
    }),
  );
}

/**
 * Apply one server event to the zones we hold; true if anything shown changed. Readings are
 * per sensor and the card shows the zone's median, so for them (and alarms) the caller asks
 * the server again instead; valve states and decisions apply as they come.
 */
export function applyEvent(type, data) {
  const zoneId = data?.zone_id ?? data?.zone;
  const zone = state.zones?.find((z) => z.id === zoneId);
  if (type === "decision" && current?.id === zoneId && current.decisions) {
    current.decisions = [data, ...current.decisions].slice(0, DECISIONS);
  }
  if (!zone) return type === "decision";
  if (type === "valve" && data.state) {
    zone.valve = {
      ...zone.valve,
      state: data.state,
      since: data.at ?? zone.valve?.since,
      until: data.until ?? (data.state === "open" ? zone.valve?.until : null),
      command_id: data.command_id ?? `${data.state}@${data.at}`,
    };
    return true;
  }
  if (type === "decision") {
    zone.last_decision = data;
    return true;
  }
  return false;
}
