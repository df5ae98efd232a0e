// The page's one shared state and the small DOM and formatting helpers every view uses.
import { DEFAULT_LANG, LANGS, t } from "./i18n.js";

export const ROLES = ["viewer", "farmer", "technician", "admin"];
const LANG_KEY = "smartfarm.lang";

export const state = {
  lang: savedLang(),
  me: null, // User from /api/v1/me; null = logged out
  farm: null,
  zones: null, // last list the server gave us; kept while the connection is down
  lastOk: null, // when that list arrived (ms)
  failing: false, // the last refresh failed
  cachedAt: null, // the list came from the service worker's cache, saved at this time (ms)
  live: false, // the event stream is connected
  pending: new Map(), // zone id -> {action, at, key}: a press the valve has not answered yet
  errors: new Map(), // zone id -> text: the last press could not be sent
  busy: new Set(), // zone ids with a request in flight
  paused: new Map(), // zone id -> ms: our own pause press, until ZoneStatus has paused_until
  route: { name: "home", id: null },
};

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];
export const tr = (key, params) => t(state.lang, key, params);

export function savedLang() {
  try {
    const saved = localStorage.getItem(LANG_KEY);
    if (LANGS.includes(saved)) return saved;
  } catch {
    // storage can be off in private mode; use the default
  }
  return DEFAULT_LANG;
}

/** Remembered on the phone too, so the login screen of a logged-out user speaks their language. */
export function rememberLang(lang) {
  try {
    localStorage.setItem(LANG_KEY, lang);
  } catch {
    // not remembered, still switched
  }
}

export function roleAtLeast(role) {
  return state.me != null && ROLES.indexOf(state.me.role) >= ROLES.indexOf(role);
}

/** Only touch the DOM when the text really changes (keeps live regions quiet). */
export function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

export function setAttr(el, name, value) {
  if (value === null) el.removeAttribute(name);
  else if (el.getAttribute(name) !== String(value)) el.setAttribute(name, value);
}

/** Create an element with text (never HTML: server text only ever goes into textContent). */
export function el(tag, attrs = {}, text = null) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v != null) node.setAttribute(k, v);
  if (text != null) node.textContent = text;
  return node;
}

/** ISO time from the API to ms; a time without a zone is taken as UTC. */
export function parseTime(iso) {
  if (!iso) return null;
  const withZone = /([zZ]|[+-]\d\d:?\d\d)$/.test(iso) ? iso : `${iso}Z`;
  const ms = Date.parse(withZone);
  return Number.isNaN(ms) ? null : ms;
}

export function num(value, digits = 1) {
  return new Intl.NumberFormat(state.lang, { maximumFractionDigits: digits }).format(value);
}

/** A volumetric fraction (0.213) or a percent (21.3) as a percent number in the language. */
export function percent(value, digits = 0) {
  return num(value <= 1 ? value * 100 : value, digits);
}

/** A fraction as the language writes a percentage ("31%", in German "31 %"). */
export function percentText(fraction) {
  return new Intl.NumberFormat(state.lang, { style: "percent", maximumFractionDigits: 0 }).format(fraction);
}

export function clock(ms) {
  const at = typeof ms === "string" ? parseTime(ms) : ms;
  return new Intl.DateTimeFormat(state.lang, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).format(at);
}

export function dateTime(ms) {
  const at = typeof ms === "string" ? parseTime(ms) : ms;
  return new Intl.DateTimeFormat(state.lang, {
    day: "numeric",
    month: "short",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
  }).format(at);
}

/** "in 3 hours" / "5 minutes ago" in the language. */
export function relative(ms) {
  const rtf = new Intl.RelativeTimeFormat(state.lang, { numeric: "auto" });
  const s = Math.round((ms - Date.now()) / 1000);
  const a = Math.abs(s);
  if (a < 10) return rtf.format(0, "second");
  if (a < 60) return rtf.format(s, "second");
  // past times count whole units gone by; future ones round ("in 3 hours" at 2 h 59 min)
  const whole = s < 0 ? Math.trunc : Math.round;
  if (a < 3600) return rtf.format(whole(s / 60), "minute");
  if (a < 86400) return rtf.format(whole(s / 3600), "hour");
  return rtf.format(whole(s / 86400), "day");
}

export const fmt = { num: (v) => num(v, 1), clock };
