"""A scheduler policy change that reorders the classes, seen on the priorities the scheduler reports, on hand-made
events in one region: the day before, interactive queues at 50, retrain at 40 and batch at 20; after the change at
10:00 team a's batch jobs queue at the changed priority, one a minute, while team b's stay at 20."""

from datetime import datetime, timedelta

import duckdb
import polars as pl

from pipelines.detect.cohorts import cohort_episodes, priority_inversion_hits
from pipelines.detect.config import detection_config
from tests.fixtures.blank_warehouse import blank_warehouse, with_policy_change, with_policy_rule_tables

CHANGED_AT = datetime(2026, 3, 2, 10, 0)
WINDOW = (CHANGED_AT - timedelta(hours=2), CHANGED_AT + timedelta(minutes=10))
BEFORE = {("b", "interactive"): 50, ("b", "retrain"): 40, ("a", "batch"): 20, ("b", "batch"): 20}


def _warehouse(
    boosted: int, history_h: int = 6, team: str | None = "a", boost_from: int = 0
) -> duckdb.DuckDBPyConnection:
    """Each (team, class) of BEFORE submits a job every 10 minutes for `history_h` hours before the change; from
    10:00 team a's batch submits one a minute, at `boosted` from minute `boost_from` on and at 20 before, and team
    b's batch one a minute at 20."""
    events = []
    for (owner, cls), priority in BEFORE.items():
        for minute in range(-60 * history_h, 0, 10):
            events.append((owner, cls, CHANGED_AT + timedelta(minutes=minute), priority))
    for minute in range(10):
        at = CHANGED_AT + timedelta(minutes=minute)
        events += [("a", "batch", at, boosted if minute >= boost_from else 20), ("b", "batch", at, 20)]
    con = blank_warehouse()
    con.execute(
        "create table staging.stg_jobs__submissions (job_id varchar, team varchar, region varchar, "
        "workload_class varchar, submitted_at timestamp)"
    )
    con.execute(
        "create table staging.stg_scheduler__events (job_id varchar, event_type varchar, event_at timestamp, "
        "priority integer)"
    )
    for i, (owner, cls, at, priority) in enumerate(events):
        con.execute("insert into staging.stg_jobs__submissions values (?, ?, 'r1', ?, ?)", [f"j{i}", owner, cls, at])
        con.execute("insert into staging.stg_scheduler__events values (?, 'submitted', ?, ?)", [f"j{i}", at, priority])
        # a job that ended reports the priority too, but an ended job queues nothing: never read
        con.execute("insert into staging.stg_scheduler__events values (?, 'ended', ?, 99)", [f"j{i}", at])
    with_policy_change(con, CHANGED_AT, "priority weights", scope_team=team, description="batch priority raised")
    return con


def _hits(con) -> pl.DataFrame:
    found = con.sql("select * from staging.stg_changes__events").pl()
    return priority_inversion_hits(con, found, detection_config(), WINDOW)


def test_batch_raised_above_interactive_is_caught_on_the_fifth_job_after_the_change():
    hits = _hits(_warehouse(boosted=70)).sort("minute_at")
    first = hits.row(0, named=True)
    # the tick at 10:05 reads the jobs of 10:00..10:04: five at 70, the minimum; 70 tops interactive's 50 and
    # retrain's 40, and the highest class overtaken is the baseline
    assert first["minute_at"] == CHANGED_AT + timedelta(minutes=4)
    assert (first["region"], first["team"], first["workload_class"]) == ("r1", "a", "batch")
    assert (first["value"], first["baseline"]) == (70.0, 50.0)
    assert hits["team"].unique().to_list() == ["a"]  # the change named team a: b's batch is not judged


def test_a_raise_above_retrain_only_names_retrain():
    first = _hits(_warehouse(boosted=45)).sort("minute_at").row(0, named=True)
    assert (first["value"], first["baseline"]) == (45.0, 40.0)


def test_a_raise_that_keeps_the_class_order_is_no_inversion():
    assert _hits(_warehouse(boosted=35)).is_empty()  # batch above its old 20 but still under retrain's 40


def test_an_inversion_that_begins_after_the_first_jobs_since_the_change_is_not_blamed_on_it():
    # team a's first five batch jobs since 10:00 queue at 20, then five at 70: by 10:10 the trailing median is 45,
    # above retrain's 40, but a reweighting takes effect at once; this one came from something else
    assert _hits(_warehouse(boosted=70, boost_from=5)).is_empty()
    # boosted from the third job, the first five's median is 70 already: caught at 10:05 as before
    assert _hits(_warehouse(boosted=70, boost_from=2))["minute_at"].min() == CHANGED_AT + timedelta(minutes=4)


def test_a_change_landing_while_the_cohort_already_outranks_the_class_is_not_blamed():
    con = _warehouse(boosted=70)
    con.execute(  # a fleet-wide change at 10:05: team a's batch queued at 70 in the minutes before it already
        "insert into staging.stg_changes__events select 'chg-2', changed_at + interval 5 minute, change_type, "
        "'fairshare half-life', from_version, to_version, scope_region, scope_sku, null, scope_node_ids, "
        "'fairshare' from staging.stg_changes__events"
    )
    assert _hits(con)["change_id"].unique().to_list() == ["chg-1"]


def test_a_change_that_names_no_team_judges_every_team_and_flags_only_the_reordered_one():
    hits = _hits(_warehouse(boosted=70, team=None))
    assert hits.select("team", "workload_class").unique().rows() == [("a", "batch")]


def test_a_change_whose_day_before_is_not_in_the_data_is_not_judged():
    assert _hits(_warehouse(boosted=70, history_h=0)).is_empty()


def test_the_alert_is_a_ticket_naming_the_team_the_class_and_the_change():
    con = _warehouse(boosted=70)
    with_policy_rule_tables(con)
    found = cohort_episodes(con, detection_config(), WINDOW, delay_min=0)
    assert found["rule"].to_list() == ["priority_inversion"]
    row = found.row(0, named=True)
    assert (row["region"], row["team"], row["cohort"]) == ("r1", "a", "priority weights workload_class=batch")
    assert row["suspected_change_id"] == "chg-1"
    assert row["detected_at"] == CHANGED_AT + timedelta(minutes=5)
