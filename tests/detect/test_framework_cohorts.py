"""A framework image change held by step time, on hand-made worker-minutes: ten workers a minute on the old version
step at the reference (their ratio to it alternates 1 - spread and 1 + spread), and from five minutes after the change
one worker every five minutes runs the new version, `slowdown` times slower. The page needs 20 worker-minutes; the
first-jobs ticket needs 2, and (4 x max(spread, 0.1) / (slowdown - 1))^2."""

from datetime import datetime, timedelta

import duckdb
import polars as pl
import pytest

from pipelines.detect.cohorts import framework_cohort_hits, framework_first_jobs_hits
from pipelines.detect.config import detection_config
from tests.fixtures.blank_warehouse import blank_warehouse

CHANGED_AT = datetime(2026, 3, 2, 13, 0)
WINDOW = (CHANGED_AT - timedelta(hours=1), CHANGED_AT + timedelta(hours=3))


def _warehouse(slowdown: float, spread: float = 0.02) -> duckdb.DuckDBPyConnection:
    con = blank_warehouse()
    con.execute(
        "create table marts.fct_training__worker_minutes (minute_at timestamp, framework_version varchar, "
        "step_time_total_s double, reference_step_total_s double)"
    )
    rows = []
    for minute in range(-60, 180):
        at = CHANGED_AT + timedelta(minutes=minute)
        rows += [(at, "old", 60 * (1 + spread * (-1) ** (minute + w)), 60.0) for w in range(10)]
        if minute >= 5 and minute % 5 == 0:
            rows.append((at, "new", 60 * slowdown, 60.0))
    con.executemany("insert into marts.fct_training__worker_minutes values (?, ?, ?, ?)", rows)
    con.execute(
        "create table staging.stg_changes__events as select 'chg-1' as change_id, ?::timestamp as changed_at, "
        "'framework_image' as change_type, 'training image' as component, 'old' as from_version, "
        "'new' as to_version, null::varchar as scope_region, null::varchar as scope_sku, 'llm' as scope_team, "
        "null::varchar as scope_node_ids, 'image' as description",
        [CHANGED_AT],
    )
    return con


def _first(hits_of, con) -> pl.DataFrame:
    found = con.sql("select * from staging.stg_changes__events").pl()
    hits = hits_of(con, found, detection_config(), WINDOW)
    return None if hits.is_empty() else hits.sort("minute_at").row(0, named=True)


def test_a_big_slowdown_is_ticketed_on_its_second_worker_minute_and_paged_on_its_twentieth():
    con = _warehouse(slowdown=1.5)
    ticket = _first(framework_first_jobs_hits, con)
    # worker-minutes on the new version at minutes 5 and 10: (4 x 0.1 / 0.5)^2 = 0.64 needed, 2 is the floor
    assert ticket["minute_at"] == CHANGED_AT + timedelta(minutes=10)
    assert ticket["value"] == pytest.approx(1.5)
    assert _first(framework_cohort_hits, con)["minute_at"] == CHANGED_AT + timedelta(minutes=100)


def test_a_slowdown_within_a_noisy_fleet_waits_for_more_worker_minutes():
    # the old version's worker-minutes spread 0.3 around the reference: (4 x 0.3 / 0.5)^2 = 5.76, so the sixth
    ticket = _first(framework_first_jobs_hits, _warehouse(slowdown=1.5, spread=0.3))
    assert ticket["minute_at"] == CHANGED_AT + timedelta(minutes=30)


def test_a_modest_slowdown_needs_the_worker_minutes_its_size_asks_for():
    # 1.25x against the 0.1 floor: (4 x 0.1 / 0.25)^2 = 2.56 worker-minutes, so the third, at minute 15
    ticket = _first(framework_first_jobs_hits, _warehouse(slowdown=1.25))
    assert ticket["minute_at"] == CHANGED_AT + timedelta(minutes=15)


def test_a_version_within_the_ratio_is_neither_ticketed_nor_paged():
    con = _warehouse(slowdown=1.1)
    assert _first(framework_first_jobs_hits, con) is None
    assert _first(framework_cohort_hits, con) is None
