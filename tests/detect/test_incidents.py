"""Alerts to incidents on hand-made episodes: one family and place whose spans touch is one incident, and so are the
alerts that blame one change wherever they are."""

from datetime import datetime, timedelta

import polars as pl

from pipelines.detect.alerts import to_alerts

AT = datetime(2026, 3, 3, 1, 5)


def _alerts(rows: list[tuple[str, str, str, str | None, int]]) -> dict[tuple[str, str], str]:
    """Episodes as (rule, family, region, suspected change, minutes after 01:05 detected), each lasting 10 minutes;
    the incident id of each (rule, region)."""
    episodes = pl.DataFrame(
        {
            "rule": [r[0] for r in rows],
            "severity": ["warning"] * len(rows),
            "intent": ["ticket"] * len(rows),
            "family": [r[1] for r in rows],
            "action": ["notify"] * len(rows),
            "summary_template": ["{value:.0f}"] * len(rows),
            "region": [r[2] for r in rows],
            "suspected_change_id": [r[3] for r in rows],
            "started_at": [AT + timedelta(minutes=r[4] - 4) for r in rows],
            "detected_at": [AT + timedelta(minutes=r[4]) for r in rows],
            "resolved_at": [AT + timedelta(minutes=r[4] + 10) for r in rows],
            "value": [70.0] * len(rows),
            "baseline": [50.0] * len(rows),
        }
    )
    alerts = to_alerts(episodes, AT + timedelta(hours=2))
    return {(a["rule"], a["region"]): a["incident_id"] for a in alerts.iter_rows(named=True)}


def test_one_change_ticketed_in_two_regions_is_one_incident():
    incidents = _alerts(
        [
            ("priority_inversion", "scheduling", "eu-west", "chg-1", 0),
            ("priority_inversion", "scheduling", "us-east", "chg-1", 10),
            ("fatal_xid", "hardware", "us-east", "chg-1", 10),  # another family: another cause, even if it blames it
            ("queue_wait", "scheduling", "ap-south", None, 10),  # blames nothing, elsewhere
        ]
    )
    assert incidents[("priority_inversion", "us-east")] == incidents[("priority_inversion", "eu-west")]
    assert len(set(incidents.values())) == 3


def test_changes_chain_incidents_together_and_unrelated_changes_stay_apart():
    incidents = _alerts(
        [
            ("priority_inversion", "scheduling", "eu-west", "chg-1", 0),
            ("placement_spread", "scheduling", "us-east", "chg-1", 30),  # joins eu-west through chg-1
            ("queue_jump", "scheduling", "us-east", "chg-2", 35),  # touches placement_spread: us-east's incident
            ("queue_wait", "scheduling", "ap-south", "chg-2", 100),  # joins it through chg-2, so eu-west too
            ("priority_inversion", "scheduling", "eu-central", "chg-3", 60),
        ]
    )
    first = incidents[("priority_inversion", "eu-west")]
    chained = [("placement_spread", "us-east"), ("queue_jump", "us-east"), ("queue_wait", "ap-south")]
    assert {incidents[k] for k in chained} == {first}
    assert incidents[("priority_inversion", "eu-central")] != first
