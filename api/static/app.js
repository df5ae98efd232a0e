// Phone page: log in, then keep the zones fresh (events, with polling as the safety net)
// and show the view the address asks for. Plain ES modules, no framework.
import { get, send } from "./api.js";
import { errorText, LANGS } from "./i18n.js";
import { clearHome, renderHome, setRefresh, settlePending, wireHome } from "./home.js";
import { $, $$, clock, rememberLang, roleAtLeast, setAttr, setText, state, tr } from "./state.js";
import { clearTools, renderTools, showTools, toolsTick, wireTools } from "./tools.js";
import { applyEvent, clearZone, renderZonePage, showZone } from "./zone.js";

const POLL_LIVE_MS = 30000; // with the event stream up, a full refresh now and then
const POLL_MS = 3000; // without it, poll this often
const VIEWS = ["login", "home", "zone", "tools"];

let pollTimer = null;
let polling = false;
let pollAgain = false;
let events = null;
let drawnLang = null; // the language the tools' lists were last drawn in

// ---------- rendering of what every view shares ----------

function render() {
  document.documentElement.lang = state.lang;
  const title = tr("app_title");
  document.title = state.farm?.name ? `${state.farm.name} – ${title}` : title;
  setText($("#farm-name"), state.farm?.name ?? title);
  for (const node of $$("[data-i18n]")) setText(node, tr(node.dataset.i18n));
  for (const node of $$("[data-minutes]")) setText(node, tr("minutes_option", { n: node.dataset.minutes }));
  for (const node of $$("[data-hours]")) setText(node, tr("hours_option", { n: node.dataset.hours }));
  for (const node of $$("[data-days]")) {
    setText(node, node.dataset.days === "1" ? tr("day_one") : tr("days_option", { n: node.dataset.days }));
  }
  for (const node of $$("[data-min-role]")) node.hidden = !roleAtLeast(node.dataset.minRole);
  $("#lang").value = state.lang;
  setAttr($("#lang"), "aria-label", tr("lang_label"));
  $("#nav").hidden = !state.me;
  setAttr($("#nav"), "aria-label", tr("nav_label"));
  const role = state.me ? tr(`role_${state.me.role}`) : "";
  setText($("#who"), state.me ? tr("user_line", { name: state.me.display_name || state.me.username, role }) : "");
  for (const a of $$("#nav a[data-nav]")) {
    setAttr(a, "aria-current", a.dataset.nav === state.route.name ? "page" : null);
  }
  renderBanner();
  if (state.route.name === "home") renderHome();
  if (state.route.name === "zone") renderZonePage();
  // the tools' lists are drawn when they load and when the language changes, not on every
  // poll: redrawing would close a menu the admin has open
  if (state.route.name === "tools") toolsTick();
  if (state.route.name === "tools" && drawnLang !== state.lang) renderTools();
  drawnLang = state.route.name === "tools" ? state.lang : null;
}

function renderBanner() {
  const banner = $("#banner");
  let text = "";
  if (state.me && state.failing) {
    if (state.cachedAt) text = tr("conn_offline", { time: clock(state.cachedAt) });
    else {
      text = tr("conn_lost");
      if (state.lastOk) text += ` ${tr("conn_stale", { time: clock(state.lastOk) })}`;
    }
  }
  setAttr(banner, "data-state", text ? "lost" : "ok");
  setText(banner, text);
}

// ---------- routing ----------

function parseRoute() {
  const [, name, id] = location.hash.match(/^#\/(\w+)?(?:\/(.+))?$/) ?? [];
  if (name === "zone" && id) return { name: "zone", id: decodeURIComponent(id) };
  if (name === "tools") return { name: "tools", id: null };
  return { name: "home", id: null };
}

function show() {
  const route = state.me ? parseRoute() : { name: "login", id: null };
  const changed = route.name !== state.route.name || route.id !== state.route.id;
  state.route = route;
  for (const name of VIEWS) $(`#${name}-view`).hidden = name !== route.name;
  render();
  if (!changed) return;
  if (route.name !== "zone") clearZone(); // one card per zone in the document at a time
  if (route.name === "zone") showZone(route.id);
  if (route.name === "tools") showTools();
  if (route.name !== "login") $("#view").focus({ preventScroll: true });
}

// ---------- session ----------

async function loggedIn(me) {
  state.me = me;
  if (LANGS.includes(me.language)) {
    state.lang = me.language;
    rememberLang(me.language);
  }
  show();
  startEvents();
  poll();
}

/** `expired`: the server ended the session (401), so the login screen says why. */
function loggedOut(expired = false) {
  const error = $("#login-error");
  error.hidden = !expired;
  setText(error, expired ? tr("error_not_logged_in") : "");
  Object.assign(state, { me: null, farm: null, zones: null, lastOk: null, cachedAt: null });
  state.failing = false;
  clearHome();
  clearZone();
  clearTools();
  stopEvents();
  clearTimeout(pollTimer);
  show();
  $('#login input[name="username"]').focus();
}

async function onLogin(e) {
  e.preventDefault();
  const form = e.target;
  const error = $("#login-error");
  const button = $("button[type=submit]", form);
  if (button.getAttribute("aria-disabled") === "true") return; // one login at a time
  error.hidden = true;
  setText(button, tr("login_busy"));
  setAttr(button, "aria-disabled", "true");
  try {
    const body = await send("POST", "/auth/login", {
      username: form.username.value.trim(),
      password: form.password.value,
    });
    form.password.value = "";
    await loggedIn(body.user);
    get("/me").catch(() => null); // lets the service worker keep who is logged in, for offline
  } catch (err) {
    setText(error, errorText(state.lang, err));
    error.hidden = false;
    form.password.select();
  } finally {
    setAttr(button, "aria-disabled", null);
    setText(button, tr("login_button"));
  }
}

async function onLogout() {
  await send("POST", "/auth/logout").catch(() => null);
  loggedOut();
}

async function onLang(e) {
  const lang = e.target.value;
  if (!LANGS.includes(lang)) return;
  state.lang = lang;
  rememberLang(lang);
  render();
  const me = state.me;
  if (!me) return;
  const saved = await send("PATCH", "/me", { language: lang }).catch(() => ({ ...me, language: lang }));
  if (state.me === me) state.me = saved; // unless they logged out meanwhile
}

// ---------- keeping the data fresh ----------

async function poll() {
  if (!state.me) return;
  if (polling) {
    pollAgain = true;
    return;
  }
  polling = true;
  clearTimeout(pollTimer);
  const me = state.me;
  try {
    const [farm] = state.farm ? [state.farm] : await getOrCached("/farm");
    const [zones, cachedAt] = await getOrCached("/zones");
    if (state.me !== me) {
      // logged out, or in as someone else, while this was on its way: drop it
      if (state.me) setTimeout(poll, 0);
      return;
    }
    state.farm = farm;
    if (!Array.isArray(zones)) throw new Error("bad zones list");
    if (cachedAt == null) {
      state.zones = zones;
      state.lastOk = Date.now();
      state.failing = false;
      state.cachedAt = null;
      settlePending();
    } else {
      // no network: the service worker's last copy, unless we hold a fresher one
      state.failing = true;
      if (!state.zones || (state.lastOk ?? 0) < cachedAt) {
        state.zones = zones;
        state.cachedAt = cachedAt;
      }
    }
  } catch (err) {
    if (err.status === 401 && state.me === me) {
      polling = false;
      return loggedOut(true);
    }
    state.failing = true;
  } finally {
    polling = false;
  }
  render();
  // a press waiting for its valve is checked at the fast pace even with the stream up
  const slow = state.live && !state.failing && state.pending.size === 0;
  const delay = pollAgain ? 0 : slow ? POLL_LIVE_MS : POLL_MS;
  pollAgain = false;
  if (!document.hidden) pollTimer = setTimeout(poll, delay);
}

/** [body, null] from the network, or [body, saved at ms] from the service worker's cache. */
async function getOrCached(path) {
  try {
    return [await get(path), null];
  } catch (err) {
    if (err.fromCache) return [err.body, err.cachedAt];
    throw err;
  }
}

let soonTimer = null;

/** Refresh within a second: many readings arrive together, one request answers them all. */
function soon() {
  if (soonTimer) return;
  soonTimer = setTimeout(() => {
    soonTimer = null;
    poll();
  }, 1000);
}

function startEvents() {
  if (events || typeof EventSource === "undefined") return;
  events = new EventSource("/api/v1/events");
  events.addEventListener("open", () => {
    state.live = true;
  });
  events.addEventListener("error", () => {
    // EventSource reconnects by itself; meanwhile the polling runs at its fast pace
    if (state.live) poll();
    state.live = false;
  });
  for (const type of ["reading", "valve", "alarm", "decision"]) {
    events.addEventListener(type, (e) => {
      let data;
      try {
        data = JSON.parse(e.data);
      } catch {
        return;
      }
      if (applyEvent(type, data)) {
        settlePending();
        render();
      }
      if (type === "reading" || type === "alarm") soon();
    });
  }
}

function stopEvents() {
  events?.close();
  events = null;
  state.live = false;
}

// ---------- wiring ----------

/** The worker at the root controls "/" too; until the API serves /sw.js, use /static/. */
async function registerWorker() {
  if (!("serviceWorker" in navigator)) return;
  try {
    await navigator.serviceWorker.register("/sw.js", { scope: "/" });
  } catch {
    await navigator.serviceWorker.register("/static/sw.js", { scope: "/static/" }).catch(() => null);
  }
}

export function boot() {
  setRefresh(poll);
  wireHome();
  wireTools();
  $("#login").addEventListener("submit", onLogin);
  $("#logout").addEventListener("click", onLogout);
  $("#lang").addEventListener("change", onLang);
  window.addEventListener("hashchange", show);
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) poll();
  });
  window.addEventListener("online", () => poll());
  document.addEventListener("smartfarm:refresh", () => poll());
  render();
  get("/me")
    .then(loggedIn)
    .catch((err) => {
      if (err.fromCache && err.body) return loggedIn(err.body); // offline: last known user
      loggedOut();
    });
  registerWorker();
}

boot();
