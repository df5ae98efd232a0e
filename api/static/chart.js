// The moisture history as an SVG chart, written here (no chart library): the moisture line,
// the good band between the two thresholds, and hatched bars where the zone was watered.
// Colour is never alone: the band is labelled, watering is hatched, thresholds are dashed.

const NS = "http://www.w3.org/2000/svg";
const PAD = { left: 44, right: 12, top: 12, bottom: 30 };

function node(tag, attrs = {}, text = null) {
  const n = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
  if (text != null) n.textContent = text;
  return n;
}

/** A fraction (0.21) or a percent (21) as a percent. */
export const asPct = (v) => (v <= 1 ? v * 100 : v);

const HOUR = 3600_000;
const STEPS = [1, 2, 3, 4, 6, 12, 24, 48, 72, 24 * 7, 24 * 14, 24 * 30].map((h) => h * HOUR);

/** Round tick times, as many as fit `room` px at about 64 px a label; days beyond 2 days. */
function timeTicks(start, end, room) {
  const most = Math.max(2, Math.floor(room / 64));
  const step = STEPS.find((s) => (end - start) / s <= most) ?? STEPS.at(-1);
  // whole local hours/days: offset by the time zone so a day tick sits at local midnight
  const offset = new Date(start).getTimezoneOffset() * 60_000;
  const first = Math.ceil((start - offset) / step) * step + offset;
  const out = [];
  for (let t = first; t <= end; t += step) out.push(t);
  return { ticks: out, daily: step >= 24 * HOUR };
}

/**
 * Draw into `box`. data = {start, end (ms), series: [[ms, pct, min?, max?]...][], thresholds: {start, stop}
 * (pct), irrigation: [{start, end} ms]}; labels = {title, tickTime(ms), tickDay(ms)}.
 */
export function drawChart(box, data, labels) {
  // drawn at the box's own width, so the 13 px labels stay 13 px on a phone
  const W = Math.max(300, Math.round(box.clientWidth || 640));
  const H = Math.round(Math.min(320, Math.max(200, W * 0.55)));
  const { start, end } = data;
  const values = data.series.flat().map((p) => p[1]);
  const top = Math.max(40, Math.ceil((Math.max(...values, data.thresholds?.stop ?? 0) + 5) / 10) * 10);
  const x = (t) => PAD.left + ((t - start) / Math.max(1, end - start)) * (W - PAD.left - PAD.right);
  const y = (v) => PAD.top + (1 - Math.min(top, Math.max(0, v)) / top) * (H - PAD.top - PAD.bottom);

  const svg = node("svg", {
    viewBox: `0 0 ${W} ${H}`,
    role: "img",
    "aria-label": labels.title,
    class: "chart-svg",
  });
  const defs = node("defs");
  const hatch = node("pattern", {
    id: "hatch",
    width: 8,
    height: 8,
    patternUnits: "userSpaceOnUse",
    patternTransform: "rotate(45)",
  });
  hatch.append(node("rect", { width: 8, height: 8, class: "water-bg" }));
  hatch.append(node("line", { x1: 0, y1: 0, x2: 0, y2: 8, class: "water-line" }));
  defs.append(hatch);
  svg.append(defs);

  // irrigation periods: hatched, full height
  for (const run of data.irrigation ?? []) {
    const x0 = x(Math.max(start, run.start));
    const x1 = x(Math.min(end, run.end));
    if (x1 < PAD.left || x0 > W - PAD.right) continue;
    svg.append(node("rect", {
      x: x0, y: PAD.top, width: Math.max(2, x1 - x0), height: H - PAD.top - PAD.bottom,
      fill: "url(#hatch)", class: "water",
    }));
  }

  // the good band and its two dashed threshold lines
  const th = data.thresholds;
  if (th) {
    svg.append(node("rect", {
      x: PAD.left, width: W - PAD.left - PAD.right, y: y(th.stop), height: Math.max(0, y(th.start) - y(th.stop)),
      class: "band",
    }));
    for (const v of [th.start, th.stop]) {
      svg.append(node("line", { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v), class: "threshold" }));
    }
  }

  // axes: percent on the left, time below
  for (let v = 0; v <= top; v += 10) {
    svg.append(node("line", { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v), class: "grid" }));
    svg.append(node("text", { x: PAD.left - 6, y: y(v) + 4, class: "tick", "text-anchor": "end" }, `${v}%`));
  }
  const { ticks, daily } = timeTicks(start, end, W - PAD.left - PAD.right);
  for (const t of ticks) {
    svg.append(node("line", { x1: x(t), x2: x(t), y1: H - PAD.bottom, y2: H - PAD.bottom + 5, class: "axis" }));
    const text = daily ? labels.tickDay(t) : labels.tickTime(t);
    svg.append(node("text", { x: x(t), y: H - 8, class: "tick", "text-anchor": "middle" }, text));
  }
  svg.append(node("line", { x1: PAD.left, x2: W - PAD.right, y1: H - PAD.bottom, y2: H - PAD.bottom, class: "axis" }));

  // the hour's lowest to highest reading, where the API sends them (hourly points)
  for (const series of data.series) {
    const ranged = series.filter((p) => p.length > 2);
    if (ranged.length < 2) continue;
    const top = ranged.map(([t, , , hi]) => `${x(t).toFixed(1)},${y(hi).toFixed(1)}`);
    const low = ranged.map(([t, , lo]) => `${x(t).toFixed(1)},${y(lo).toFixed(1)}`).reverse();
    svg.append(node("path", { d: `M${top.join("L")}L${low.join("L")}Z`, class: "range" }));
  }

  // moisture: one line per sensor; a gap of more than 3 samples' spacing breaks the line
  for (const series of data.series) {
    if (!series.length) continue;
    const gap = Math.max(15 * 60_000, ((end - start) / Math.max(1, series.length)) * 3);
    let d = "";
    let prev = null;
    for (const [t, v] of series) {
      d += `${prev == null || t - prev > gap ? "M" : "L"}${x(t).toFixed(1)},${y(v).toFixed(1)}`;
      prev = t;
    }
    svg.append(node("path", { d, class: "moisture-line" }));
    if (series.length === 1) svg.append(node("circle", { cx: x(series[0][0]), cy: y(series[0][1]), r: 3, class: "moisture-dot" }));
  }
  box.replaceChildren(svg);
  return svg;
}
