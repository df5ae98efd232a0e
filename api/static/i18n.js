// Every string the phone page shows comes from here. Vietnamese first.
// Placeholders look like {name}; fill them with t(lang, key, {name: "..."}).

export const DEFAULT_LANG = "vi";
export const LANGS = ["vi", "en"];

export const CATALOGUE = {
  vi: {
    app_title: "Tưới vườn",
    loading: "Đang tải…",
    no_zones: "Chưa có khu tưới nào.",
    // starts with the visible "VI / EN" so voice control users can say what they see
    lang_toggle_label: "VI / EN: chuyển sang tiếng Anh (English)",
    // connection banner
    conn_lost: "Mất kết nối, đang thử lại…",
    conn_stale: "Số liệu đang hiện là số cũ, lúc {time}.",
    // zone card
    crop_label: "Cây trồng: {crop}",
    moisture_label: "Độ ẩm đất",
    level_dry: "Khô",
    level_good: "Vừa đủ",
    level_wet: "Ẩm",
    no_reading: "Chưa có số đo",
    gauge_text: "Độ ẩm đất {value}%, {level}. Tưới khi dưới {start}%, dừng khi đạt {stop}%.",
    legend_start: "Tưới khi dưới {start}%",
    legend_stop: "Dừng khi đạt {stop}%",
    measured: "Đo {ago}",
    stale: "cũ",
    stale_long: "Số đo cũ",
    valve_open: "Đang tưới",
    valve_until: "đến {time}",
    valve_closed: "Đã tắt",
    valve_offline: "Mất kết nối",
    valve_unknown: "Chưa rõ",
    valve_label: "Van:",
    pending_water: "Đang mở van…",
    pending_stop: "Đang tắt van…",
    no_answer: "Van không trả lời",
    last_decision: "Lần cuối ({ago}): {reason}",
    btn_water: "Tưới ngay",
    btn_stop: "Dừng",
    send_failed: "Không gửi được lệnh: {detail}",
    network_error: "không kết nối được với máy chủ",
    // confirmation dialog
    confirm_water_title: "Tưới ngay {zone}?",
    confirm_stop_title: "Dừng tưới {zone}?",
    confirm_stop_text: "Van sẽ tắt trong vài giây.",
    minutes_legend: "Tưới trong bao lâu?",
    minutes_option: "{n} phút",
    confirm: "Xác nhận",
    cancel: "Hủy",
    // crops (ids from smartfarm/agronomy.py)
    crop_coffee: "Cà phê",
    crop_rubber: "Cao su",
    crop_cacao: "Ca cao",
    crop_cashew: "Điều",
    crop_black_pepper: "Hồ tiêu",
    crop_durian: "Sầu riêng",
  },
  en: {
    app_title: "Farm watering",
    loading: "Loading…",
    no_zones: "No watering zones yet.",
    lang_toggle_label: "VI / EN: switch to Vietnamese (Tiếng Việt)",
    conn_lost: "Connection lost, retrying…",
    conn_stale: "Showing old data from {time}.",
    crop_label: "Crop: {crop}",
    moisture_label: "Soil moisture",
    level_dry: "Dry",
    level_good: "Good",
    level_wet: "Wet",
    no_reading: "No reading yet",
    gauge_text: "Soil moisture {value}%, {level}. Watering starts below {start}% and stops at {stop}%.",
    legend_start: "Water below {start}%",
    legend_stop: "Stop at {stop}%",
    measured: "Measured {ago}",
    stale: "stale",
    stale_long: "Stale reading",
    valve_open: "Watering",
    valve_until: "until {time}",
    valve_closed: "Off",
    valve_offline: "Offline",
    valve_unknown: "Unknown",
    valve_label: "Valve:",
    pending_water: "Opening…",
    pending_stop: "Stopping…",
    no_answer: "No answer from valve",
    last_decision: "Last ({ago}): {reason}",
    btn_water: "Water now",
    btn_stop: "Stop",
    send_failed: "Could not send: {detail}",
    network_error: "cannot reach the server",
    confirm_water_title: "Water {zone} now?",
    confirm_stop_title: "Stop watering {zone}?",
    confirm_stop_text: "The valve will close in a few seconds.",
    minutes_legend: "For how long?",
    minutes_option: "{n} min",
    confirm: "Confirm",
    cancel: "Cancel",
    crop_coffee: "Coffee",
    crop_rubber: "Rubber",
    crop_cacao: "Cacao",
    crop_cashew: "Cashew",
    crop_black_pepper: "Black pepper",
    crop_durian: "Durian",
  },
};

/** Look up `key` in `lang` (falling back to Vietnamese, then the key) and fill {placeholders}. */
export function t(lang, key, params = {}) {
  const table = CATALOGUE[lang] ?? CATALOGUE[DEFAULT_LANG];
  const text = table[key] ?? CATALOGUE[DEFAULT_LANG][key] ?? key;
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
}

/** True if the catalogue has `key` (used for crop names the server may add later). */
export function has(lang, key) {
  return key in (CATALOGUE[lang] ?? {});
}
