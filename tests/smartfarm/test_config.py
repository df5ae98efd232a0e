"""Farm config: the example loads; each kind of mistake names file, line, key and problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from smartfarm.agronomy import Thresholds
from smartfarm.config import FarmConfigError, load_farm_config, parse_farm_config

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "farm.yaml"
GOOD = EXAMPLE.read_text(encoding="utf-8")


def test_example_farm_loads_with_derived_thresholds() -> None:
    farm = load_farm_config(EXAMPLE)
    assert farm.farm.id == "demo-farm"
    assert [z.id for z in farm.zones] == ["z1", "z2", "z3", "z4"]
    z1 = farm.zone("z1")
    assert z1.flow_lph == 4400
    # clay loam FC .36 WP .22, coffee p .40: start .36 - .4*.14, stop .36 - .1*.14
    assert z1.effective_thresholds == Thresholds(start=0.304, stop=0.346)
    assert farm.zone("z3").effective_thresholds == Thresholds(start=0.22, stop=0.27)
    assert farm.zone_of_sensor("s-z1-b") == z1
    assert farm.calibration_of("s-z1-a").raw_dry == 3250


def _error(text: str) -> str:
    with pytest.raises(FarmConfigError) as info:
        parse_farm_config(text, "farm.yaml")
    return str(info.value)


def _line_of(needle: str, text: str = GOOD) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("soil: loam", "soil: lome", "zones[2].soil: unknown soil 'lome'"),
        ("crop: cashew", "crop: mango", "zones[3].crop: unknown crop 'mango'"),
        ("emitters: 900", "emiters: 900", "zones[3].emiters: unknown key"),
        ("area_m2: 4000", "area_m2: -5", "zones[0].area_m2: Input should be greater than 0"),
        (
            "capacity_lph: 9000",
            "capacity_lph: lots",
            "farm.pump.capacity_lph: Input should be a valid number",
        ),
        ("id: z2", "id: z1", "duplicate zone id 'z1'"),
        ("valve: v-z2", "valve: v-z1", "duplicate valve id 'v-z1'"),
        ("{start: 0.22, stop: 0.27}", "{start: 0.3, stop: 0.2}", "start (0.3) must be below stop"),
        ("id: demo-farm", "id: demo/farm", "farm.id: String should match pattern"),
        (
            "capacity_lph: 9000",
            "capacity_lph: 1000",
            "zone z1 needs 4400 L/h but the pump gives only 1000",
        ),
    ],
)
def test_bad_values_name_line_and_key(old: str, new: str, expected: str) -> None:
    assert old in GOOD
    bad = GOOD.replace(old, new, 1)
    message = _error(bad)
    assert expected in message
    assert message.startswith("farm.yaml:")


def test_error_points_at_the_offending_line() -> None:
    bad = GOOD.replace("soil: loam", "soil: lome")
    assert f"farm.yaml:{_line_of('soil: lome', bad)}: zones[2].soil" in _error(bad)


def test_missing_key_is_named() -> None:
    bad = GOOD.replace("    valve: v-z4\n", "")
    assert "zones[3].valve: required key is missing" in _error(bad)


def test_yaml_syntax_error_has_line() -> None:
    bad = GOOD.replace("  pump:\n", "  pump: [\n")
    message = _error(bad)
    assert message.startswith("farm.yaml:") and "not valid YAML" in message


def test_not_a_mapping() -> None:
    assert "must be a mapping" in _error("- just\n- a list\n")


def test_unreadable_file_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(FarmConfigError, match=r"nope\.yaml: cannot read farm config"):
        load_farm_config(missing)
