"""The one line a human reads at 3 a.m.: the template filled from the alert's value and baseline, and where."""

from datetime import datetime

import polars as pl

from pipelines.detect.alerts import to_alerts

AT = datetime(2026, 3, 2, 3, 20)


def _alert(value: float, baseline: float) -> dict:
    episode = pl.DataFrame(
        {
            "rule": ["idle_with_demand"],
            "severity": ["warning"],
            "intent": ["ticket"],
            "family": ["scheduling"],
            "action": ["notify"],
            "summary_template": [
                "{value:.0%} of healthy GPUs idle while jobs wait ({ratio:.1f}x the baseline {baseline:.0%})"
            ],
            "region": ["us-east"],
            "started_at": [AT],
            "detected_at": [AT],
            "resolved_at": [None],
            "value": [value],
            "baseline": [baseline],
        },
        schema_overrides={"resolved_at": pl.Datetime("us")},
    )
    return to_alerts(episode, AT).row(0, named=True)


def test_the_summary_reads_the_value_against_its_baseline_and_the_scope():
    summary = _alert(0.12, 0.03)["summary"]
    assert summary == "[warning] scheduling: 12% of healthy GPUs idle while jobs wait (4.0x the baseline 3%) (us-east)"


def test_a_zero_baseline_reads_as_infinitely_above_it_not_nan():
    summary = _alert(0.10, 0.0)["summary"]
    assert "(∞x the baseline 0%)" in summary
    assert "nan" not in summary
