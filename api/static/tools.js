// Technician tools: alarms, thresholds with a dry-run preview, programs and windows, device
// health and calibration (two points), users (admin) and the audit log. Sections show by role; the
// server checks every request again (the page only hides what a role cannot use).
import { get, send } from "./api.js";
import { alarmText, errorText, has, LANGS } from "./i18n.js";
import { $, $$, dateTime, el, num, parseTime, relative, roleAtLeast, ROLES, setText, state, tr } from "./state.js";

const data = { alarms: null, thresholds: null, program: null, devices: null, users: null, audit: null };
const pct = (v) => (v == null ? null : v <= 1 ? Math.round(v * 1000) / 10 : v);

function fail(target, err) {
  setText($(target), tr("load_failed", { detail: errorText(state.lang, err) }));
}

export async function showTools() {
  fillZoneSelects();
  const loads = [loadAlarms()];
  if (roleAtLeast("technician")) loads.push(loadThresholds(), loadProgram(), loadDevices(), loadAudit());
  if (roleAtLeast("admin")) loads.push(loadUsers());
  await Promise.all(loads);
}

function zoneId(form) {
  return form.zone.value || state.zones?.[0]?.id;
}

function fillZoneSelects() {
  for (const select of $$(".zone-select")) {
    const chosen = select.value;
    const options = (state.zones ?? []).map((z) => el("option", { value: z.id }, z.name));
    if (options.length && select.options.length !== options.length) {
      select.replaceChildren(...options);
      if (chosen) select.value = chosen;
    }
  }
}

/** On every refresh: zone menus follow the zones; the first zones to arrive load the forms. */
export function toolsTick() {
  const empty = $("#thr-form select[name=zone]").options.length === 0;
  fillZoneSelects();
  if (empty && state.zones?.length && roleAtLeast("technician")) {
    loadThresholds();
    loadProgram();
  }
}

/** After logging out, forget everything the tools loaded. */
export function clearTools() {
  for (const key of Object.keys(data)) data[key] = null;
  for (const id of ["#alarms", "#users", "#audit", "#devices tbody"]) $(id).replaceChildren();
}

export function renderTools() {
  fillZoneSelects();
  renderAlarms();
  renderThresholds();
  renderDevices();
  renderUsers();
  renderAudit();
}

// ---------- alarms ----------

async function loadAlarms() {
  try {
    data.alarms = await get("/alarms?active=true");
  } catch (err) {
    return fail("#alarms", err);
  }
  renderAlarms();
}

function renderAlarms() {
  const list = $("#alarms");
  if (!data.alarms) return;
  if (!data.alarms.length) return list.replaceChildren(el("li", { class: "empty" }, tr("alarms_none")));
  list.replaceChildren(
    ...data.alarms.map((a) => {
      const zone = state.zones?.find((z) => z.id === a.zone)?.name ?? a.zone ?? a.source;
      const li = el("li", { "data-alarm": a.id, "data-kind": a.kind });
      const at = parseTime(a.raised_at);
      li.append(el("span", { class: "row-text" }, tr("alarm_raised", { text: alarmText(state.lang, a), zone, ago: at ? relative(at) : "" })));
      if (a.acknowledged_by) li.append(el("span", { class: "row-note" }, tr("alarm_acked", { by: a.acknowledged_by })));
      else {
        const ack = el("button", { type: "button", class: "btn btn-plain btn-small", "data-action": "ack" }, tr("alarm_ack"));
        ack.onclick = () => acknowledge(a.id);
        li.append(ack);
      }
      return li;
    }),
  );
}

async function acknowledge(id) {
  try {
    await send("POST", `/alarms/${id}/ack`, { by: state.me.username });
  } catch (err) {
    return fail("#alarms", err);
  }
  await loadAlarms();
}

// ---------- thresholds and preview ----------

async function loadThresholds() {
  const form = $("#thr-form");
  const id = zoneId(form);
  if (!id) return;
  try {
    data.thresholds = { zone: id, ...(await get(`/zones/${encodeURIComponent(id)}/thresholds`)) };
  } catch (err) {
    return fail("#thr-result", err);
  }
  form.start_pct.value = pct(data.thresholds.start_pct);
  form.stop_pct.value = pct(data.thresholds.stop_pct);
  setText($("#thr-result"), "");
  renderThresholds();
}

function renderThresholds() {
  const th = data.thresholds;
  if (!th) return;
  const preset = th.preset ?? {};
  const words = { start: num(pct(preset.start_pct)), stop: num(pct(preset.stop_pct)) };
  setText($("#thr-source"), tr(th.source === "override" ? "thr_source_override" : "thr_source_preset", words));
  const zone = state.zones?.find((z) => z.id === th.zone);
  const estimate = $("#thr-estimate");
  estimate.hidden = !zone?.crop_estimate;
  if (zone) {
    const crop = has(state.lang, `crop_${zone.crop}`) ? tr(`crop_${zone.crop}`) : zone.crop;
    setText(estimate, tr("thr_estimate", { crop }));
  }
}

function thresholdBody(form) {
  const start = Number(form.start_pct.value);
  const stop = Number(form.stop_pct.value);
  if (!(start > 0 && stop > 0 && start < stop)) {
    setText($("#thr-result"), tr("invalid_thresholds"));
    form.start_pct.focus();
    return null;
  }
  return { start_pct: start, stop_pct: stop };
}

async function previewThresholds() {
  const form = $("#thr-form");
  const body = thresholdBody(form);
  if (!body) return;
  const days = Number(form.days.value) || 7;
  const out = $("#thr-result");
  try {
    const r = await send("POST", `/zones/${encodeURIComponent(zoneId(form))}/thresholds/preview`, { ...body, days });
    setText(out, tr("preview_result", {
      days: num(days, 0),
      minutes: num(r.minutes ?? 0, 0),
      litres: num(r.litres ?? 0, 0),
      runs: r.runs?.length ?? 0,
      actual_minutes: num(r.actual_minutes ?? 0, 0),
      actual_litres: num(r.actual_litres ?? 0, 0),
    }));
  } catch (err) {
    setText(out, errorText(state.lang, err));
  }
}

async function saveThresholds(e) {
  e.preventDefault();
  const form = e.target;
  const body = thresholdBody(form);
  if (!body) return;
  try {
    const saved = await send("PUT", `/zones/${encodeURIComponent(zoneId(form))}/thresholds`, body);
    if (saved) data.thresholds = { zone: zoneId(form), ...saved };
    setText($("#thr-result"), tr("saved"));
    renderThresholds();
    document.dispatchEvent(new Event("smartfarm:refresh"));
    loadAudit();
  } catch (err) {
    setText($("#thr-result"), errorText(state.lang, err));
  }
}

// ---------- program ----------

const PROGRAM_FIELDS = ["min_off_minutes", "max_run_minutes", "max_daily_minutes", "max_daily_litres", "cycle_minutes", "soak_minutes"];

async function loadProgram() {
  const form = $("#prog-form");
  const id = zoneId(form);
  if (!id) return;
  try {
    data.program = await get(`/zones/${encodeURIComponent(id)}/program`);
  } catch (err) {
    return fail("#prog-result", err);
  }
  form.windows.value = (data.program.windows ?? []).join("\n");
  for (const name of PROGRAM_FIELDS) form[name].value = data.program[name] ?? "";
  setText($("#prog-result"), "");
}

async function saveProgram(e) {
  e.preventDefault();
  const form = e.target;
  const body = { ...data.program, windows: form.windows.value.split(/[\n,]+/).map((w) => w.trim()).filter(Boolean) };
  for (const name of PROGRAM_FIELDS) body[name] = form[name].value === "" ? null : Number(form[name].value);
  try {
    data.program = (await send("PUT", `/zones/${encodeURIComponent(zoneId(form))}/program`, body)) ?? body;
    setText($("#prog-result"), tr("saved"));
    loadAudit();
  } catch (err) {
    setText($("#prog-result"), errorText(state.lang, err));
  }
}

// ---------- devices and calibration ----------

async function loadDevices() {
  try {
    data.devices = await get("/devices");
  } catch (err) {
    return fail("#devices tbody", err);
  }
  renderDevices();
}

function renderDevices() {
  if (!data.devices) return;
  const none = tr("none");
  $("#devices tbody").replaceChildren(
    ...data.devices.map((d) => {
      const row = el("tr", { "data-device": d.device_id, "data-online": String(!!d.online) });
      const seen = parseTime(d.last_seen);
      const name = el("th", { scope: "row" }, d.device_id);
      name.append(el("span", { class: "row-note" }, tr(`kind_${d.kind}`)));
      const status = el("td", { class: d.online ? "ok" : "bad" }, `${d.online ? "● " : "○ "}${tr(d.online ? "dev_online" : "dev_offline")}`);
      row.append(
        name,
        el("td", {}, state.zones?.find((z) => z.id === d.zone_id)?.name ?? d.zone_id ?? none),
        status,
        el("td", {}, d.battery_pct != null ? `${num(d.battery_pct, 0)}%` : none),
        el("td", {}, d.rssi_dbm != null ? `${num(d.rssi_dbm, 0)} dBm` : none),
        el("td", {}, seen ? relative(seen) : none),
      );
      const cal = d.calibration && Object.keys(d.calibration).length ? short(d.calibration) : none;
      row.append(el("td", { class: "calibration" }, cal));
      return row;
    }),
  );
  renderCalibrationForm();
}

function renderCalibrationForm() {
  const form = $("#cal-form");
  const sensors = (data.devices ?? []).filter((d) => d.kind === "sensor");
  const chosen = form.sensor.value || sensors[0]?.device_id || "";
  form.sensor.replaceChildren(...sensors.map((d) => el("option", { value: d.device_id }, d.device_id)));
  form.sensor.value = chosen;
  fillCalibration();
}

function fillCalibration() {
  const form = $("#cal-form");
  const cal = data.devices?.find((d) => d.device_id === form.sensor.value)?.calibration ?? {};
  form.raw_dry.value = cal.raw_dry ?? "";
  form.raw_wet.value = cal.raw_wet ?? "";
}

// Two points, dry air and water, as a technician measures them in the field; the rest of the
// sensor's calibration (moisture at each point, limits) is kept as it was.
async function saveCalibration(e) {
  e.preventDefault();
  const form = e.target;
  const sensor = form.sensor.value;
  const current = data.devices?.find((d) => d.device_id === sensor)?.calibration ?? {};
  const { poly, points, degree, ...kept } = current;
  const body = { ...kept, raw_dry: Number(form.raw_dry.value), raw_wet: Number(form.raw_wet.value) };
  try {
    await send("PUT", `/devices/${encodeURIComponent(sensor)}/calibration`, body);
    setText($("#cal-result"), tr("saved"));
    loadDevices();
    loadAudit();
  } catch (err) {
    setText($("#cal-result"), errorText(state.lang, err));
  }
}

// ---------- users (admin) ----------

async function loadUsers() {
  try {
    data.users = await get("/users");
  } catch (err) {
    return fail("#user-result", err);
  }
  renderUsers();
}

function roleSelect(value, label) {
  const select = el("select", { "aria-label": label, name: "role" });
  select.append(...ROLES.map((r) => el("option", { value: r }, tr(`role_${r}`))));
  select.value = value;
  return select;
}

function renderUsers() {
  const formRole = $("#user-form select[name=role]");
  const chosen = formRole.value || "farmer";
  formRole.replaceChildren(...ROLES.map((r) => el("option", { value: r }, tr(`role_${r}`))));
  formRole.value = chosen;
  if (!data.users) return;
  $("#users").replaceChildren(
    ...data.users.map((u) => {
      const li = el("li", { "data-user": u.username });
      const name = el("span", { class: "row-text" }, `${u.display_name || u.username} (${u.username})`);
      if (u.disabled) name.append(el("span", { class: "row-note" }, ` · ${tr("user_disabled")}`));
      const role = roleSelect(u.role, `${tr("user_role")}: ${u.username}`);
      role.onchange = () => patchUser(u.username, { role: role.value });
      const del = el("button", { type: "button", class: "btn btn-stop btn-small", "data-action": "delete-user" }, tr("btn_delete"));
      del.append(el("span", { class: "sr-only" }, ` ${u.username}`));
      del.onclick = () => {
        if (window.confirm(tr("confirm_delete_user", { user: u.username }))) deleteUser(u.username);
      };
      li.append(name, role, del);
      return li;
    }),
  );
}

async function patchUser(username, body) {
  try {
    await send("PATCH", `/users/${encodeURIComponent(username)}`, body);
    setText($("#user-result"), tr("saved"));
  } catch (err) {
    setText($("#user-result"), errorText(state.lang, err));
  }
  await loadUsers();
  loadAudit();
}

async function deleteUser(username) {
  try {
    await send("DELETE", `/users/${encodeURIComponent(username)}`);
  } catch (err) {
    setText($("#user-result"), errorText(state.lang, err));
  }
  await loadUsers();
}

async function addUser(e) {
  e.preventDefault();
  const form = e.target;
  const body = {
    username: form.username.value.trim(),
    password: form.password.value,
    role: form.role.value,
    language: LANGS.includes(state.farm?.default_language) ? state.farm.default_language : "vi",
  };
  if (form.display_name.value.trim()) body.display_name = form.display_name.value.trim();
  try {
    await send("POST", "/users", body);
    form.reset();
    setText($("#user-result"), tr("saved"));
    await loadUsers();
    loadAudit();
  } catch (err) {
    setText($("#user-result"), errorText(state.lang, err));
  }
}

// ---------- audit ----------

async function loadAudit() {
  if (!roleAtLeast("technician")) return;
  try {
    data.audit = await get("/audit?limit=50");
  } catch (err) {
    return fail("#audit", err);
  }
  renderAudit();
}

function actionWords(action) {
  const key = `act_${String(action).replace(/\./g, "_")}`;
  return has(state.lang, key) ? tr(key) : action;
}

/** A before/after value in a line: "start_pct 30.4, stop_pct 34.6", numbers in the language. */
function short(v) {
  if (v == null) return tr("none");
  if (typeof v === "number") return num(v, 2);
  if (typeof v !== "object") return String(v);
  if (Array.isArray(v)) return v.map(short).join(", ");
  return Object.entries(v)
    .map(([k, x]) => `${k} ${x != null && typeof x === "object" ? JSON.stringify(x) : short(x)}`)
    .join(", ");
}

function renderAudit() {
  const list = $("#audit");
  if (!data.audit) return;
  if (!data.audit.length) return list.replaceChildren(el("li", { class: "empty" }, tr("audit_empty")));
  list.replaceChildren(
    ...data.audit.map((a) => {
      const li = el("li", { "data-action": a.action });
      li.append(
        el("time", { datetime: a.at }, dateTime(a.at)),
        el("span", { class: "row-text" }, `${a.username} · ${actionWords(a.action)} · ${a.target ?? ""}`),
        el("span", { class: "row-note audit-change" }, `${short(a.before)} → ${short(a.after)}`),
      );
      return li;
    }),
  );
}

// ---------- wiring ----------

export function wireTools() {
  $("#thr-form").addEventListener("submit", saveThresholds);
  $("#thr-form select[name=zone]").addEventListener("change", loadThresholds);
  $('#thr-form [data-action="preview"]').addEventListener("click", previewThresholds);
  $('#thr-form [data-action="use-preset"]').addEventListener("click", () => {
    const preset = data.thresholds?.preset;
    if (!preset) return;
    $("#thr-form").start_pct.value = pct(preset.start_pct);
    $("#thr-form").stop_pct.value = pct(preset.stop_pct);
  });
  $("#prog-form").addEventListener("submit", saveProgram);
  $("#prog-form select[name=zone]").addEventListener("change", loadProgram);
  $("#user-form").addEventListener("submit", addUser);
  $("#cal-form").addEventListener("submit", saveCalibration);
  $("#cal-form select[name=sensor]").addEventListener("change", fillCalibration);
}
