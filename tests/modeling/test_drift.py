"""Drift marts on hand-made days: a value against the pooled 7 days before it, flagged past the metric's threshold
only with enough volume and at least three days of baseline."""

from datetime import datetime, timedelta

import duckdb
import pytest

from pipelines.modeling.project import load_project
from pipelines.modeling.runner import run_model

DAY0 = datetime(2026, 3, 2)


def _warehouse() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("create schema marts")
    con.execute(
        "create table marts.fct_training__worker_minutes (minute_at timestamp, model_type varchar, sku varchar, "
        "steps double, step_time_total_s double, dataloader_wait_total_s double)"
    )
    con.execute(
        "create table marts.fct_jobs__attempt_outcomes (ended_at timestamp, framework_version varchar, "
        "driver_version varchar, infra_failures bigint, ended_attempts bigint)"
    )
    con.execute(
        "create table marts.fct_jobs__queue_waits (started_at timestamp, workload_class varchar, queue_wait_s double, "
        "starts bigint)"
    )
    for day in range(5):
        at = DAY0 + timedelta(days=day, hours=12)
        slow = 1.2 if day == 4 else 1.0  # llm-7b on H100 is 20 % slower on the fifth day
        rows = [("llm-7b", "H100", 2000.0, 2000.0 * slow, 100.0), ("resnet50", "A100", 2000.0, 1000.0, 50.0)]
        for model, sku, steps, seconds, wait in rows:
            con.execute(
                "insert into marts.fct_training__worker_minutes values (?, ?, ?, ?, ?, ?)",
                [at, model, sku, steps, seconds, wait],
            )
        failures = 6 if day >= 3 else 2  # torch-2.5.0: 2 -> 6 of 40 ended attempts from the fourth day
        con.execute(
            "insert into marts.fct_jobs__attempt_outcomes values (?, 'torch-2.5.0', '560', ?, 40)", [at, failures]
        )
        con.execute("insert into marts.fct_jobs__queue_waits values (?, 'batch', ?, 10)", [at, 600.0 * 10])
    project = load_project()
    for name in ("marts.fct_drift__daily_values", "marts.fct_drift__daily"):
        run_model(con, project[name])
    return con


def _row(con, metric: str, dimension: str, slice_: str, day: int) -> dict:
    cursor = con.execute(
        "select * from marts.fct_drift__daily where metric = ? and dimension = ? and slice = ? and day_at = ?",
        [metric, dimension, slice_, DAY0 + timedelta(days=day)],
    )
    names = [d[0] for d in cursor.description]
    return dict(zip(names, cursor.fetchall()[0], strict=True))


def test_step_time_drift_is_flagged_against_the_days_before():
    con = _warehouse()
    row = _row(con, "step_time_s", "model_type/sku", "llm-7b/H100", 4)
    assert row["value"] == pytest.approx(1.2) and row["baseline_value"] == pytest.approx(1.0)
    assert row["baseline_days"] == 4 and row["change"] == pytest.approx(0.2) and row["is_drifting"]
    steady = _row(con, "step_time_s", "model_type/sku", "resnet50/A100", 4)
    assert steady["change"] == pytest.approx(0.0) and not steady["is_drifting"]


def test_too_little_baseline_or_volume_is_not_judged():
    con = _warehouse()
    # day 3: 6/40 against 2/40 pooled over three days: +200 %, baseline of 3 days, 40 attempts: flagged
    assert _row(con, "infra_failure_rate", "framework_version", "torch-2.5.0", 3)["is_drifting"]
    # day 4: 6/40 against (2+2+2+6)/160 = 7.5 %: +100 %, flagged again
    day4 = _row(con, "infra_failure_rate", "driver_version", "560", 4)
    assert day4["baseline_value"] == pytest.approx(12 / 160) and day4["is_drifting"]
    # queue waits: only 10 starts a day, under the 20 needed to judge
    assert not _row(con, "queue_wait_s", "workload_class", "batch", 4)["is_drifting"]
    # day 2 has two days behind it: never judged
    assert _row(con, "step_time_s", "model_type/sku", "llm-7b/H100", 2)["baseline_days"] == 2
