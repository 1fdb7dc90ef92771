"""Storage rollouts and network changes held against the other regions and the region's own hour before, on
hand-made training minutes: ten workers a minute per region, each minute's step time split into compute and
waiting on data (or on the all-reduce)."""

from datetime import datetime, timedelta

import duckdb
import polars as pl

from pipelines.detect.cohorts import cohort_episodes, rollout_cohort_hits
from pipelines.detect.config import detection_config

CHANGED_AT = datetime(2026, 3, 2, 9, 0)
WINDOW = (CHANGED_AT - timedelta(hours=2), CHANGED_AT + timedelta(minutes=20))


def _warehouse(shares: dict[str, tuple[float, float]], first_minute: int = -60) -> duckdb.DuckDBPyConnection:
    """`shares[region]` = (share of step time waiting on data before the change, after it); 60 s of step time per
    worker-minute, the same share waiting on the all-reduce as on data."""
    con = duckdb.connect()
    con.execute("create schema marts")
    con.execute(
        "create table marts.fct_training__worker_minutes (region varchar, minute_at timestamp, "
        "step_time_total_s double, dataloader_wait_total_s double, grad_sync_total_s double)"
    )
    rows = []
    for region, (before, after) in shares.items():
        for minute in range(first_minute, 20):
            share = before if minute < 0 else after
            at = CHANGED_AT + timedelta(minutes=minute)
            rows += [[region, at, 60.0, 60.0 * share, 60.0 * share]] * 10
    con.executemany("insert into marts.fct_training__worker_minutes values (?, ?, ?, ?, ?)", rows)
    return con


def _change(change_type: str = "storage_rollout", region: str | None = "r1") -> pl.DataFrame:
    return pl.DataFrame(
        {"change_id": ["chg-1"], "changed_at": [CHANGED_AT], "change_type": [change_type], "scope_region": [region]},
        schema_overrides={"scope_region": pl.String},
    )


def _hits(con, change: pl.DataFrame) -> pl.DataFrame:
    return rollout_cohort_hits(change["change_type"][0])(con, change, detection_config(), WINDOW)


def test_a_rollout_that_makes_training_wait_on_data_is_caught_after_five_minutes():
    con = _warehouse({"r1": (0.10, 0.30), "r2": (0.10, 0.10)})
    hits = _hits(con, _change())
    # 30 % of step time on data against 10 % in r2 and 10 % the hour before: 3x and 20 points more. Ten workers a
    # minute pass the 20 worker-minutes in the 2nd minute; the 5 minutes since the change bind (09:04)
    assert hits["minute_at"].min() == CHANGED_AT + timedelta(minutes=4)
    assert hits.height == 16
    assert hits["value"].round(6).unique().to_list() == [0.3]
    assert hits["baseline"].round(6).unique().to_list() == [0.1]


def test_a_network_change_is_read_on_the_all_reduce_and_pages_as_network():
    con = _warehouse({"r1": (0.10, 0.30), "r2": (0.10, 0.10)})
    con.execute("create schema staging")
    con.execute(
        "create table staging.stg_changes__events as select 'chg-1' as change_id, ?::timestamp as changed_at, "
        "'network_change' as change_type, 'switch firmware' as component, null::varchar as to_version, "
        "'r1' as scope_region, null::varchar as scope_team, null::varchar as scope_node_ids",
        [CHANGED_AT],
    )
    found = cohort_episodes(con, detection_config(), WINDOW, delay_min=0)
    assert found.select("rule", "region", "cohort", "suspected_change_id").rows() == [
        ("network_change_sync", "r1", "switch firmware", "chg-1")
    ]
    assert found["detected_at"][0] == CHANGED_AT + timedelta(minutes=5)


def test_a_region_whose_jobs_always_wait_more_is_not_blamed_on_the_rollout():
    con = _warehouse({"r1": (0.30, 0.30), "r2": (0.10, 0.10)})  # 3x r2, but 1x its own hour before
    assert _hits(con, _change()).is_empty()


def test_a_rise_under_the_ratio_or_the_margin_does_not_fire():
    assert _hits(_warehouse({"r1": (0.10, 0.14), "r2": (0.10, 0.10)}), _change()).is_empty()  # 1.4x
    assert _hits(_warehouse({"r1": (0.02, 0.045), "r2": (0.02, 0.02)}), _change()).is_empty()  # 2.25x, +2.5 points


def test_a_region_with_no_hour_before_has_nothing_to_be_held_against():
    con = _warehouse({"r1": (0.10, 0.30)}, first_minute=0)
    assert _hits(con, _change()).is_empty()
    # the other region alone cannot tell the change from a region whose jobs always wait more on data
    assert _hits(_warehouse({"r1": (0.10, 0.30), "r2": (0.10, 0.10)}, first_minute=0), _change()).is_empty()
    with_history = _warehouse({"r1": (0.10, 0.30)})  # a fleet of one region: its own hour before carries it
    assert _hits(with_history, _change())["minute_at"].min() == CHANGED_AT + timedelta(minutes=4)


def test_the_tick_that_first_could_see_the_rollout_raises_it_as_the_replay_says():
    con = _warehouse({"r1": (0.10, 0.30), "r2": (0.10, 0.10)})
    cut = (WINDOW[0], CHANGED_AT + timedelta(minutes=5))  # the 09:05 tick: minutes 09:00-09:04
    hits = rollout_cohort_hits("storage_rollout")(con, _change(), detection_config(), cut)
    assert hits["minute_at"].to_list() == [CHANGED_AT + timedelta(minutes=4)]
