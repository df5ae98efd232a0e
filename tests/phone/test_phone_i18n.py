"""The phone page's catalogues (api/static/locales/): complete in all four languages, and
every code the controller, the alarms and the API send has words. Runs the page's own
i18n.js in Node, no browser."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "api" / "static"
LANGS = ["vi", "en", "pt", "de"]
# Codes of the API's errors (contract-api.md and the 409 safety refusals).
ERROR_CODES = [
    "bad_credentials", "too_many_attempts", "not_logged_in", "forbidden", "daily_limit",
    "valve_offline", "broker_unreachable", "no_such_zone", "no_such_alarm", "no_such_user",
    "user_exists", "last_admin", "pump_capacity",
]  # fmt: skip
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def node(script: str) -> Any:
    """Run an ES module snippet that can import the page's modules; return its printed JSON."""
    exe = shutil.which("node")
    if exe is None:
        pytest.skip("node is not installed (bin/test installs it with npm)")
    prelude = f'const S = "{STATIC.as_uri()}/";\n'
    out = subprocess.run(
        [exe, "--input-type=module", "-e", prelude + script],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={"TZ": "UTC", "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def catalogue() -> dict[str, dict[str, str]]:
    result: dict[str, dict[str, str]] = node(
        'const { CATALOGUE } = await import(S + "i18n.js");console.log(JSON.stringify(CATALOGUE));'
    )
    return result


def test_every_key_in_all_four_languages_with_the_same_placeholders(
    catalogue: dict[str, dict[str, str]],
) -> None:
    assert sorted(catalogue) == sorted(LANGS)
    keys = set(catalogue["en"])
    for lang in LANGS:
        assert set(catalogue[lang]) == keys, (lang, keys ^ set(catalogue[lang]))
        for key, text in catalogue[lang].items():
            assert text.strip(), (lang, key)
            wanted = set(PLACEHOLDER.findall(catalogue["en"][key]))
            assert set(PLACEHOLDER.findall(text)) == wanted, (lang, key, text)


def used_keys() -> set[str]:
    """Keys the page asks for by name: data-i18n in the HTML, tr("...") and friends in JS."""
    html = (STATIC / "index.html").read_text()
    keys = set(re.findall(r'data-i18n="(\w+)"', html))
    for path in STATIC.glob("*.js"):
        text = path.read_text()
        keys |= set(re.findall(r'\btr\("(\w+)"', text))
        keys |= set(re.findall(r'\bt\(\w+, "(\w+)"', text))
        keys |= set(
            re.findall(r'"((?:confirm|btn|pending|error|dec|level|role|kind|range|thr)_\w+)"', text)
        )
    return keys


def test_every_key_the_page_uses_exists(catalogue: dict[str, dict[str, str]]) -> None:
    missing = used_keys() - set(catalogue["en"])
    assert not missing, missing


def decision_codes() -> set[str]:
    """Every decision code the controller can write, read from its source."""
    codes: set[str] = set()
    for path in (ROOT / "controller").glob("*.py"):
        text = path.read_text()
        codes |= set(re.findall(r'Action\.[A-Z]+,\s*"([a-z_]+)"', text))
        codes |= set(re.findall(r'return "([a-z_]+)", ', text))
        codes |= set(re.findall(r'code="([a-z_]+)"', text))
        codes |= set(re.findall(r'return \(\s*"([a-z_]+)",', text))
    kinds = re.findall(
        r'^\s+[A-Z]+ = "(\w+)"', (ROOT / "controller" / "model.py").read_text(), re.M
    )
    codes |= {f"open_{k}" for k in ("auto", "manual", "everything", "schedule") if k in kinds}
    return codes


def alarm_kinds() -> set[str]:
    kinds: set[str] = set()
    for path in [*(ROOT / "controller").glob("*.py"), *(ROOT / "gateway").glob("*.py")]:
        text = path.read_text()
        kinds |= set(re.findall(r'AlarmChange\(\s*"([a-z_]+)"', text))
        kinds |= set(re.findall(r'AlarmSwitch\(\s*"([a-z_]+)"', text))
    return kinds


def error_codes() -> set[str]:
    """The codes of the API's errors: the contract's, and every `4xx/5xx, "code"` in api/."""
    codes = set(ERROR_CODES)
    for path in (ROOT / "api").glob("*.py"):
        codes |= set(re.findall(r'\b[45]\d\d,\s*"([a-z_]+)"', path.read_text()))
    return codes


def test_decision_alarm_and_error_codes_have_words(catalogue: dict[str, dict[str, str]]) -> None:
    codes, kinds, errors = decision_codes(), alarm_kinds(), error_codes()
    assert {"no_such_zone", "valve_offline", "not_logged_in"} <= errors
    assert {
        "below_start",
        "open_auto",
        "rain",
        "manual_stop",
        "pump_busy",
    } <= codes  # the scan works
    assert {"sensor_fault", "valve_fault", "store_unavailable"} <= kinds
    for lang in LANGS:
        table = catalogue[lang]
        assert not [c for c in codes if f"dec_{c}" not in table], lang
        assert not [k for k in kinds if f"alarm_{k}" not in table], lang
        assert not [c for c in errors if f"error_{c}" not in table], lang


def test_decisions_in_plain_words_from_code_and_numbers() -> None:
    decisions = [
        {
            "ts": "2026-11-23T05:10:00Z",
            "code": "open_auto",
            "duration_s": 1200,
            "by": "controller",
            "reason": "open for 20 min "
            "(moisture 21.0% below start threshold 23.0%, water up to 27.0%)",
        },
        {
            "ts": "2026-11-23T06:00:00Z",
            "code": "rain",
            "by": "controller",
            "reason": "moisture 21.4% below start threshold 23.0%, "
            "but it rained 12.5 mm in the last 24 h",
        },
        {
            "ts": "2026-11-23T06:00:00Z",
            "code": "below_start",
            "by": "controller",
            "reason": "x",
            "params": {"moisture": 0.214, "start": 0.23},
        },
        {
            "ts": "2026-11-23T06:00:00Z",
            "code": "in_band",
            "by": "controller",
            "reason": "no numbers",
        },
        {"ts": "2026-11-23T06:00:00Z", "code": "brand_new", "by": "controller", "reason": "as is"},
    ]
    words = node(
        'const { decisionText } = await import(S + "i18n.js");'
        f"const ds = {json.dumps(decisions)};"
        "const fmt = (lang) => ({"
        " num: (v) => new Intl.NumberFormat(lang, {maximumFractionDigits: 1}).format(v),"
        " clock: (iso) => new Date(iso).toISOString().slice(11, 16) });"
        "const out = {};"
        'for (const l of ["en", "vi", "pt", "de"])'
        " out[l] = ds.map((d) => decisionText(l, d, fmt(l)));"
        "console.log(JSON.stringify(out));"
    )
    assert words["en"][0] == "Watered 20 min at 05:10: soil at 21%, below 23%"
    assert words["vi"][0] == "Đã tưới 20 phút lúc 05:10: đất 21%, dưới 23%"
    assert words["pt"][0] == "Regou 20 min às 05:10: solo a 21%, abaixo de 23%"
    assert words["de"][0] == "20 Min. bewässert um 05:10: Boden bei 21 %, unter 23 %"
    assert words["en"][1] == "Soil at 21.4%, below 23%, but it rained 12.5 mm"
    assert words["de"][1] == "Boden bei 21,4 %, unter 23 %, aber es hat 12,5 mm geregnet"
    assert words["en"][2] == "Soil at 21.4%, below 23%: watering"  # named numbers from the API
    # a template whose numbers are missing, and an unknown code, fall back to the server's words
    assert words["vi"][3] == "no numbers"
    assert words["vi"][4] == "as is"
