// Every string the page shows comes from a catalogue in locales/, one file per language.
// Placeholders look like {name}; fill them with t(lang, key, {name: "..."}).
import de from "./locales/de.js";
import en from "./locales/en.js";
import pt from "./locales/pt.js";
import vi from "./locales/vi.js";

export const DEFAULT_LANG = "vi"; // a new farm speaks Vietnamese until a user chooses
export const LANGS = ["vi", "en", "pt", "de"];
export const CATALOGUE = { vi, en, pt, de };

const PLACEHOLDER = /\{(\w+)\}/g;

/** Look up `key` in `lang` (falling back to Vietnamese, then the key) and fill {placeholders}. */
export function t(lang, key, params = {}) {
  const table = CATALOGUE[lang] ?? CATALOGUE[DEFAULT_LANG];
  const text = table[key] ?? CATALOGUE[DEFAULT_LANG][key] ?? key;
  return text.replace(PLACEHOLDER, (m, name) => (name in params ? String(params[name]) : m));
}

/** True if the catalogue has `key` (crop names or codes the server may add later). */
export function has(lang, key) {
  return key in (CATALOGUE[lang] ?? {});
}

/** Fill a template only if every placeholder has a value, else null (the caller falls back). */
function fillAll(lang, key, params) {
  if (!has(lang, key)) return null;
  const text = t(lang, key, params);
  return /\{\w+\}/.test(text) ? null : text;
}

/**
 * The numbers of an English reason, in order: percentages p0.., clock times t0..,
 * minutes m0.., rain mm0, and who asked. Used until the API sends them by name
 * (see /work/contract-api.md, Changes 1); a template that needs a missing number falls back
 * to the server's own sentence, so nothing is ever shown half filled.
 */
export function reasonNumbers(reason) {
  const out = {};
  const text = String(reason ?? "");
  [...text.matchAll(/(\d+(?:\.\d+)?)%/g)].forEach((m, i) => (out[`p${i}`] = Number(m[1])));
  [...text.matchAll(/\b(\d{1,2}:\d\d)\b/g)].forEach((m, i) => (out[`t${i}`] = m[1]));
  [...text.matchAll(/(\d+(?:\.\d+)?) min\b/g)].forEach((m, i) => (out[`m${i}`] = Number(m[1])));
  const mm = text.match(/(\d+(?:\.\d+)?) mm\b/);
  if (mm) out.mm0 = Number(mm[1]);
  const by = text.match(/\bby ([^\s,;:()]+)/);
  if (by) out.by = by[1];
  return out;
}

/** Named numbers from the API (Changes 1) mapped onto the template names. */
function namedNumbers(params) {
  if (!params || typeof params !== "object") return {};
  const out = {};
  const frac = (v) => (typeof v === "number" && v <= 1 ? v * 100 : v);
  if (params.moisture != null) out.p0 = frac(params.moisture);
  const limit = params.start ?? params.stop;
  if (limit != null) out.p1 = frac(limit);
  if (params.stop != null) out.p2 = frac(params.stop);
  if (params.minutes != null) out.m0 = params.minutes;
  if (params.mm != null) out.mm0 = params.mm;
  if (params.by != null) out.by = params.by;
  return out;
}

/**
 * A decision in plain words in `lang`, from its code and numbers ("Watered 20 min at 05:10:
 * soil at 21%, below 23%"). `fmt` formats numbers and times for the language.
 */
export function decisionText(lang, d, fmt) {
  const raw = { ...reasonNumbers(d.reason), ...namedNumbers(d.params) };
  if (d.by && d.by !== "controller") raw.by = d.by;
  const params = {};
  for (const [k, v] of Object.entries(raw)) params[k] = typeof v === "number" ? fmt.num(v) : v;
  if (d.duration_s != null) params.dur = fmt.num(Math.round(d.duration_s / 60));
  if (d.ts) params.at = fmt.clock(d.ts);
  // the local clock of the farm is what the reason says; times stay as the controller wrote
  const text = d.code ? fillAll(lang, `dec_${d.code}`, params) : null;
  return text ?? d.reason ?? "";
}

/** An alarm's kind in words, falling back to the server's message for kinds we do not know. */
export function alarmText(lang, alarm) {
  const key = `alarm_${alarm.kind}`;
  return has(lang, key) ? t(lang, key) : alarm.message || t(lang, "alarm_other", { kind: alarm.kind });
}

/** An API error in words: by its code if we know it, by HTTP status, else the server's text. */
export function errorText(lang, err) {
  if (err?.code === "too_many_attempts") {
    return t(lang, "error_too_many_attempts", { seconds: err.retryAfter ?? 60 });
  }
  if (err?.code && has(lang, `error_${err.code}`)) {
    return t(lang, `error_${err.code}`, { detail: err.message ?? "", status: err.status ?? "" });
  }
  if (err?.status === 422) return t(lang, "error_validation", { detail: err.message ?? "" });
  if (!err?.status) return t(lang, "error_network");
  if (err.message) return err.message; // a code we do not know yet: the server's own words
  if (err.status >= 500) return t(lang, "error_server", { status: err.status });
  return t(lang, "error_unknown", { detail: `HTTP ${err.status}` });
}
