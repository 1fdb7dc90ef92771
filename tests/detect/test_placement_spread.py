"""A placement policy change seen on the jobs it places, on hand-made attempts in two regions of 8-GPU nodes: every
node but the empty e1 holds a 6-GPU job all day, and each region starts a 1-GPU job a minute that lasts a minute.
Packed onto a part-full node such a job leaves 8 - 6 - 1 = 1 GPU free; spread onto the empty node, 8 - 1 = 7."""

from datetime import datetime, timedelta

import duckdb
import polars as pl

from pipelines.detect.cohorts import placement_spread_hits
from pipelines.detect.config import detection_config
from tests.fixtures.blank_warehouse import blank_warehouse, with_policy_change

CHANGED_AT = datetime(2026, 3, 2, 10, 0)
WINDOW = (CHANGED_AT - timedelta(hours=1), CHANGED_AT + timedelta(hours=1))


def _warehouse(
    spread_from: int | None = 0, scope: str | None = "r1", history: bool = True
) -> duckdb.DuckDBPyConnection:
    """r1's small jobs go to the empty node e1 from minute `spread_from` after the change (None: never), r2's
    always pack; `history`: whether the hour before the change is in the data."""
    con = blank_warehouse()
    con.execute("create table marts.dim_nodes (node_id varchar, region varchar, gpus integer)")
    con.execute(
        "create table intermediate.int_jobs__attempts (job_id varchar, attempt integer, region varchar, "
        "started_at timestamp, ended_at timestamp, gpus integer, node_ids varchar)"
    )
    nodes = [("r1", "p1"), ("r1", "e1"), ("r2", "p2")]
    con.executemany("insert into marts.dim_nodes values (?, ?, 8)", [(n, r) for r, n in nodes])
    rows = [(f"big-{n}", 0, r, CHANGED_AT - timedelta(hours=3), None, 6, n) for r, n in nodes if n != "e1"]
    for minute in range(-60 if history else 0, 60):
        at = CHANGED_AT + timedelta(minutes=minute)
        spreading = spread_from is not None and minute >= spread_from
        rows.append((f"r1-{minute}", 0, "r1", at, at + timedelta(minutes=1), 1, "e1" if spreading else "p1"))
        rows.append((f"r2-{minute}", 0, "r2", at, at + timedelta(minutes=1), 1, "p2"))
    con.executemany("insert into intermediate.int_jobs__attempts values (?, ?, ?, ?, ?, ?, ?)", rows)
    with_policy_change(
        con, CHANGED_AT, "placement policy", from_version="pack", to_version="spread", scope_region=scope
    )
    return con


def _hits(con) -> pl.DataFrame:
    found = con.sql("select * from staging.stg_changes__events").pl()
    hits = placement_spread_hits(con, found, detection_config(), WINDOW)
    return hits if hits.is_empty() else hits.sort("minute_at")


def test_a_spread_policy_is_caught_on_its_twelfth_placement():
    hits = _hits(_warehouse())
    first = hits.row(0, named=True)
    # the tick at 10:12 reads the starts of 10:00..10:11: twelve, each leaving 7 GPUs free, against 1 in the hour
    # before and 1 in r2 in the same minutes
    assert first["minute_at"] == CHANGED_AT + timedelta(minutes=11)
    assert (first["region"], first["value"], first["baseline"]) == ("r1", 7.0, 1.0)
    assert hits["region"].unique().to_list() == ["r1"]


def test_a_policy_change_that_keeps_packing_is_not_flagged():
    assert _hits(_warehouse(spread_from=None)).is_empty()


def test_a_spread_that_begins_after_the_first_placements_is_not_blamed_on_the_change():
    # the first twelve jobs after 10:00 packed (1 GPU left each); from 10:30 they spread and by 11:00 the last
    # hour's mean is (30 x 1 + 30 x 7) / 60 = 4, 2.5 GPUs above the 1 before, but a placement policy acts at once
    assert _hits(_warehouse(spread_from=30)).is_empty()


def test_a_fleet_wide_change_holds_each_region_against_its_own_hour_before():
    hits = _hits(_warehouse(scope=None))
    assert hits.select("region", "baseline").unique().rows() == [("r1", 1.0)]


def test_a_change_without_placements_in_the_hour_before_is_not_judged():
    assert _hits(_warehouse(history=False)).is_empty()
