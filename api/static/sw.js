// Service worker: every asset of the page is cached at install, so the app opens with no
// network; the API's answers are kept too and given back, marked with the time they were
// saved, when the network is down, so the page shows the last known state as stale.
const VERSION = "smartfarm-2026-11-23-2";
const ASSETS = [
  "/static/index.html",
  "/static/app.js",
  "/static/api.js",
  "/static/state.js",
  "/static/home.js",
  "/static/zone.js",
  "/static/chart.js",
  "/static/tools.js",
  "/static/i18n.js",
  "/static/locales/vi.js",
  "/static/locales/en.js",
  "/static/locales/pt.js",
  "/static/locales/de.js",
  "/static/style.css",
  "/static/manifest.webmanifest",
  "/static/icon.svg",
  "/static/icons/icon-192.png",
  "/static/icons/icon-512.png",
  "/static/icons/icon-maskable-512.png",
];
const SHELL = `${VERSION}-shell`;
const DATA = `${VERSION}-data`;
const CACHED_AT = "X-Smartfarm-Cached-At";
// never cached: the live stream, and anything to do with logging in or out
const PASS = /^\/api\/v1\/(events|auth\/)/;

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(SHELL).then((c) => c.addAll(ASSETS)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => !k.startsWith(VERSION)).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

async function apiGet(request) {
  try {
    const res = await fetch(request);
    if (res.ok) {
      const headers = new Headers(res.headers);
      headers.set(CACHED_AT, new Date().toISOString());
      const copy = new Response(await res.clone().blob(), { status: res.status, headers });
      (await caches.open(DATA)).put(request.url, copy);
    }
    return res;
  } catch (err) {
    const cached = await caches.match(request.url, { cacheName: DATA });
    if (cached) return cached;
    throw err;
  }
}

async function page(request) {
  try {
    return await fetch(request);
  } catch (err) {
    const cached = await caches.match("/static/index.html", { cacheName: SHELL });
    if (cached) return cached;
    throw err;
  }
}

/** Cached first (fast on bad Wi-Fi), refreshed in the background for the next visit. */
async function asset(request, event) {
  const cache = await caches.open(SHELL);
  const cached = await cache.match(request, { ignoreSearch: true });
  const fresh = fetch(request).then((res) => {
    if (res.ok) cache.put(request, res.clone());
    return res;
  });
  if (cached) {
    event.waitUntil(fresh.catch(() => null));
    return cached;
  }
  return fresh;
}

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (url.origin !== self.location.origin) return;
  if (event.request.method !== "GET") {
    // after logging out, nothing of the farm stays on the phone
    if (url.pathname === "/api/v1/auth/logout") event.waitUntil(caches.delete(DATA));
    return;
  }
  if (PASS.test(url.pathname)) return;
  if (url.pathname.startsWith("/api/")) event.respondWith(apiGet(event.request));
  else if (event.request.mode === "navigate") event.respondWith(page(event.request));
  else if (url.pathname.startsWith("/static/")) event.respondWith(asset(event.request, event));
});
