// Talking to /api/v1: same-origin fetch (the session cookie rides along; the token is never
// stored by the page), a timeout, retries of reads on flaky Wi-Fi, errors with their code.

export const API = "/api/v1";
const TIMEOUT_MS = 8000;
const READ_RETRIES = 2; // a GET is tried this many more times before the page says "lost"

export class ApiError extends Error {
  /** status 0 = no answer (network); code from {"detail": {"code": ...}} when the API sends one. */
  constructor(status, code, message, field = null, retryAfter = null) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
    this.field = field;
    this.retryAfter = retryAfter;
    this.fromCache = false;
  }
}

/** {"detail": ...} in all its shapes (ours, FastAPI's 422 list, plain strings) as code + text. */
export function parseDetail(body) {
  const d = body?.detail;
  if (typeof d === "string") return { code: null, message: d, field: null };
  if (Array.isArray(d)) {
    const message = d
      .map((e) => {
        const where = Array.isArray(e?.loc) ? e.loc.filter((x) => x !== "body").join(".") : "";
        return where ? `${where}: ${e?.msg ?? ""}` : (e?.msg ?? JSON.stringify(e));
      })
      .join("; ");
    const loc = d[0]?.loc;
    return { code: "validation", message, field: Array.isArray(loc) ? loc.at(-1) : null };
  }
  if (d && typeof d === "object") {
    const message = d.message ?? (Array.isArray(d.problems) ? d.problems.join("; ") : "");
    return { code: d.code ?? null, message, field: d.field ?? null };
  }
  return { code: null, message: "", field: null };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function once(path, options) {
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), TIMEOUT_MS);
  let res;
  try {
    res = await fetch(`${API}${path}`, {
      cache: "no-store",
      credentials: "same-origin",
      ...options,
      signal: ctrl.signal,
    });
  } catch {
    throw new ApiError(0, "network", "");
  } finally {
    clearTimeout(timer);
  }
  const body = res.status === 204 ? null : await res.json().catch(() => null);
  if (!res.ok) {
    const { code, message, field } = parseDetail(body);
    const after = Number(res.headers.get("Retry-After"));
    const status = res.status;
    throw new ApiError(status, code, message, field, Number.isFinite(after) && after > 0 ? after : null);
  }
  // the service worker marks answers it gave from its cache while the network was down
  if (res.headers.get("X-Smartfarm-Cached-At")) {
    const err = new ApiError(0, "network", "");
    err.fromCache = true;
    err.body = body;
    err.cachedAt = Date.parse(res.headers.get("X-Smartfarm-Cached-At"));
    throw err;
  }
  return body;
}

/** GET with retries on network errors and 502/503/504; other errors at once. */
export async function get(path) {
  let last;
  for (let attempt = 0; attempt <= READ_RETRIES; attempt++) {
    try {
      return await once(path, { method: "GET" });
    } catch (err) {
      last = err;
      const retry = err.status === 0 || [502, 503, 504].includes(err.status);
      if (!retry || err.fromCache || attempt === READ_RETRIES) break;
      await sleep(400 * 2 ** attempt + Math.random() * 200);
    }
  }
  throw last;
}

/** A state-changing request: sent once (the server's audit log must not see a press twice). */
export function send(method, path, body) {
  const options = { method };
  if (body !== undefined) {
    options.headers = { "Content-Type": "application/json" };
    options.body = JSON.stringify(body);
  }
  return once(path, options);
}
