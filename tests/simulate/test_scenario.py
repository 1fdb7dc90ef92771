"""Scenario files: the documented shape parses; every bad value is named by its field."""

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from pipelines.simulate.fleet import build_fleet
from pipelines.simulate.incidents import build_effects
from pipelines.simulate.scenario import (
    INCIDENT_FAMILIES,
    ScenarioError,
    load_scenario,
    parse_span,
    parse_when,
    scenario_from_dict,
)

SCENARIOS = Path(__file__).parents[2] / "data" / "scenarios"
ISSUE_EXAMPLE = """
name: eu-driver-upgrade
seed: 42
start: 2026-03-02T00:00:00Z
days: 3
fleet: {gpus: 1200, nodes: 80, regions: [us-east, eu-west]}   # optional; default fleet if absent
incidents:
  - kind: driver_regression
    start: "+1d10h"            # offset from scenario start
    duration: 3h
    scope: {region: eu-west}
    magnitude: 1.0
maintenance:
  - {start: "+2d02h", duration: 2h, scope: {nodes: 4}}
"""


def test_the_documented_example_parses(tmp_path):
    path = tmp_path / "example.yml"
    path.write_text(ISSUE_EXAMPLE)
    scenario = load_scenario(path)
    assert scenario.start == datetime(2026, 3, 2)
    begin, end = scenario.window(scenario.incidents[0])
    assert begin == datetime(2026, 3, 3, 10) and end == datetime(2026, 3, 3, 13)
    assert scenario.maintenance[0].scope.nodes == 4


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90m", timedelta(minutes=90)),
        ("3h", timedelta(hours=3)),
        ("1d6h", timedelta(days=1, hours=6)),
        ("1d03h20m", timedelta(days=1, hours=3, minutes=20)),  # zero-padded parts, as in the example
    ],
)
def test_spans(text, expected):
    assert parse_span(text) == expected


@pytest.mark.parametrize("text", ["", "3x", "h", "-1h", "1.5h"])
def test_bad_spans_are_refused(text):
    with pytest.raises(ValueError):
        parse_span(text)


def test_when_accepts_offsets_and_absolute_times():
    start = datetime(2026, 3, 2)
    assert parse_when("+1d03h20m", start) == datetime(2026, 3, 3, 3, 20)
    assert parse_when("2026-03-04T05:00:00Z", start) == datetime(2026, 3, 4, 5)
    assert parse_when("2026-03-04T06:00:00+01:00", start) == datetime(2026, 3, 4, 5)  # normalised to UTC


BASE = {"name": "t", "start": "2026-03-02T00:00:00Z", "days": 1}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"incidents": [{"kind": "meteor_strike", "start": "+1h", "duration": "1h"}]}, "incidents.0.kind"),
        ({"incidents": [{"kind": "ecc_storm", "start": "+1h", "duration": "soon"}]}, "incidents.0.duration"),
        ({"incidents": [{"kind": "ecc_storm", "start": "tomorrow", "duration": "1h"}]}, "incidents.0.start"),
        (
            {"incidents": [{"kind": "ecc_storm", "start": "+1h", "duration": "1h", "magnitude": -1}]},
            "incidents.0.magnitude",
        ),
        (
            {"incidents": [{"kind": "ecc_storm", "start": "+1h", "duration": "1h", "scope": {"rack": 3}}]},
            "incidents.0.scope.rack",
        ),
        ({"incidents": [{"kind": "ecc_storm", "start": "+5d", "duration": "1h"}]}, "incidents.0.start"),
        ({"maintenance": [{"start": "+1h", "duration": "1h", "scope": {"nodes": 0}}]}, "maintenance.0.scope.nodes"),
        ({"days": 0}, "days"),
        ({"fleet": {"gpus": 1}}, "fleet.gpus"),
        ({"colour": "blue"}, "colour"),
        ({"demand": 0}, "demand"),
        ({"demand": {"us-east": 9}}, "demand.us-east"),
        ({"demand": {"mars": 1.2}}, "demand.mars"),
    ],
)
def test_bad_values_name_their_field(change, field):
    with pytest.raises(ScenarioError, match=field.replace(".", r"\.")):
        scenario = scenario_from_dict({**BASE, **change}, source="bad.yml")
        build_effects(scenario, build_fleet(scenario.fleet), _log(scenario), scenario.start, 2880, _rng())


@pytest.mark.parametrize(
    ("scope", "field"),
    [
        ({"region": "mars"}, "scope.region"),
        ({"team": "nobody"}, "scope.team"),
        ({"nodes": ["x-n999"]}, "scope.nodes"),
        ({"sku": "TPU-v5"}, "scope.sku"),
    ],
)
def test_unknown_scope_values_name_their_field(scope, field):
    scenario = scenario_from_dict(
        {**BASE, "incidents": [{"kind": "ecc_storm", "start": "+1h", "duration": "1h", "scope": scope}]}
    )
    with pytest.raises(ScenarioError, match=r"incidents\.0\." + field.replace(".", r"\.")):
        build_effects(scenario, build_fleet(scenario.fleet), _log(scenario), scenario.start, 2880, _rng())


def test_the_library_has_one_scenario_per_kind_and_a_clean_one():
    kinds = set()
    for path in SCENARIOS.glob("*.yml"):
        scenario = load_scenario(path)
        kinds |= {i.kind for i in scenario.incidents}
        kinds |= {"maintenance"} if scenario.maintenance else set()
    assert set(INCIDENT_FAMILIES) | {"maintenance"} <= kinds
    assert (SCENARIOS / "clean.yml").exists() and (SCENARIOS / "retrain_surge.yml").exists()


def _log(scenario):
    from pipelines.simulate.changes import ChangeLog
    from pipelines.simulate.workload import TEAMS

    return ChangeLog(build_fleet(scenario.fleet), list(TEAMS), scenario.start)


def _rng():
    import numpy as np

    return np.random.default_rng(0)
