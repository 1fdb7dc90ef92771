"""A placement policy change seen on the jobs it places, on hand-made attempts in two regions of 8-GPU nodes: every
node but the empty e1 holds a 6-GPU job all day, and each region starts a 1-GPU job a minute that lasts a minute.
Packed, such a job goes to the part-full node (2 GPUs free); spread, to the empty e1 while the part-full p1, which
fitted it, stays untouched: a placement a packing scheduler could not have made."""

from datetime import datetime, timedelta

import duckdb
import polars as pl
import pytest

from pipelines.detect.cohorts import placement_spread_hits
from pipelines.detect.config import detection_config
from tests.fixtures.blank_warehouse import blank_warehouse, with_policy_change, with_policy_rule_tables

CHANGED_AT = datetime(2026, 3, 2, 10, 0)
WINDOW = (CHANGED_AT - timedelta(hours=1), CHANGED_AT + timedelta(hours=1))


def _warehouse(
    spread_from: int | None = 0, scope: str | None = "r1", history: bool = True, empty_node: bool = True
) -> duckdb.DuckDBPyConnection:
    """r1's small jobs go to the empty node e1 from minute `spread_from` after the change (None: never), r2's
    always pack; `history`: whether the hour before the change is in the data; without `empty_node` r1 has only
    its part-full node, so even a spreading scheduler has no choice."""
    con = blank_warehouse()
    with_policy_rule_tables(con)  # nodes, attempts, and no node down or in maintenance
    nodes = [("r1", "p1"), ("r1", "e1"), ("r2", "p2")] if empty_node else [("r1", "p1"), ("r2", "p2")]
    con.executemany("insert into marts.dim_nodes values (?, ?, 'H100', 8)", [(n, r) for r, n in nodes])
    rows = [(f"big-{n}", 0, r, CHANGED_AT - timedelta(hours=3), None, 6, n) for r, n in nodes if n != "e1"]
    for minute in range(-60 if history else 0, 60):
        at = CHANGED_AT + timedelta(minutes=minute)
        spreading = empty_node and spread_from is not None and minute >= spread_from
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


def test_a_spread_policy_is_caught_on_its_fifth_unpacked_placement():
    hits = _hits(_warehouse())
    first = hits.row(0, named=True)
    # the tick at 10:05 reads the starts of 10:00..10:04: five, each on e1 while p1 fitted it with fewer GPUs free,
    # against none in the hour before and none in r2 in the same minutes
    assert first["minute_at"] == CHANGED_AT + timedelta(minutes=4)
    assert (first["region"], first["value"], first["baseline"], first["change_id"]) == ("r1", 1.0, 0.0, "chg-1")
    assert hits["region"].unique().to_list() == ["r1"]


def test_a_policy_change_that_keeps_packing_is_not_flagged():
    assert _hits(_warehouse(spread_from=None)).is_empty()


def test_a_spread_policy_without_a_choice_of_node_is_not_flagged():
    # a full region: the only node that fits is the part-full one, so spreading places every job where packing would
    assert _hits(_warehouse(empty_node=False)).is_empty()


def test_a_spread_first_seen_when_the_scheduler_has_a_choice_is_caught_then():
    # in a full region a spreading policy places like a packing one until jobs end unevenly; here its first
    # different placement is at 10:30, and its fifth (10:34) is flagged: 5 of the last 15 minutes' 15 starts
    hits = _hits(_warehouse(spread_from=30))
    first = hits.row(0, named=True)
    assert first["minute_at"] == CHANGED_AT + timedelta(minutes=34)
    assert first["value"] == pytest.approx(5 / 15)


def test_a_fleet_wide_change_holds_each_region_against_its_own_hour_before():
    hits = _hits(_warehouse(scope=None))
    assert hits.select("region", "baseline").unique().rows() == [("r1", 0.0)]


def test_a_change_without_placements_in_the_hour_before_is_not_judged():
    assert _hits(_warehouse(history=False)).is_empty()


def test_a_packing_scheduler_that_fills_the_fuller_node_first_in_a_minute_is_not_flagged():
    # each minute two 2-GPU jobs start in r1: the first fills p1 (2 GPUs free), the second can only go to e1; the
    # data does not say which came first, and p1 was not left untouched, so neither counts as unpacked
    con = _warehouse(spread_from=None)
    rows = []
    for minute in range(-60, 60):
        at = CHANGED_AT + timedelta(minutes=minute)
        rows += [(f"a-{minute}", 0, "r1", at, at + timedelta(minutes=1), 2, "p1")]
        rows += [(f"b-{minute}", 0, "r1", at, at + timedelta(minutes=1), 2, "e1")]
    con.execute("delete from intermediate.int_jobs__attempts where region = 'r1' and job_id <> 'big-p1'")
    con.executemany("insert into intermediate.int_jobs__attempts values (?, ?, ?, ?, ?, ?, ?)", rows)
    assert _hits(con).is_empty()


def test_placements_answer_to_the_newest_policy_change_in_force():
    # a second change at 10:20 (a queue setting) does not take the spread from the first: the spread began under
    # the first, and from 10:20 r1's placements answer to the second; the first keeps only its own placements, so
    # its hits end once fewer than five of them are left in the last 15 minutes (10:16..10:19 at 10:30)
    con = _warehouse()
    con.execute(
        "insert into staging.stg_changes__events select 'chg-2', changed_at + interval 20 minute, change_type, "
        "'queue time limit', null, null, scope_region, null, null, null, 'queue time limit' "
        "from staging.stg_changes__events"
    )
    hits = _hits(con)
    by_change = hits.group_by("change_id").agg(pl.col("minute_at").min(), pl.col("minute_at").max().alias("last"))
    first = dict(by_change.select("change_id", "minute_at").iter_rows())
    last = dict(by_change.select("change_id", "last").iter_rows())
    assert first == {"chg-1": CHANGED_AT + timedelta(minutes=4), "chg-2": CHANGED_AT + timedelta(minutes=24)}
    assert last["chg-1"] == CHANGED_AT + timedelta(minutes=29)


@pytest.mark.parametrize("closed", ["maintenance ahead", "down", None])
def test_a_fuller_node_taking_no_new_jobs_is_no_choice(closed):
    # q1 holds a 7-GPU job, so packing would put r1's 1-GPU jobs there rather than on p1, unless q1 takes no new jobs:
    # drained ahead of a planned window (two hours' lead) or reported down
    con = _warehouse(spread_from=None)
    con.execute("insert into marts.dim_nodes values ('q1', 'r1', 'H100', 8)")
    con.execute(
        "insert into intermediate.int_jobs__attempts values ('big-q1', 0, 'r1', ?, null, 7, 'q1')",
        [CHANGED_AT - timedelta(hours=3)],
    )
    if closed == "maintenance ahead":
        con.execute(
            "insert into staging.stg_maintenance__node_windows values ('q1', ?, ?)",
            [CHANGED_AT + timedelta(hours=1), CHANGED_AT + timedelta(hours=3)],
        )
    if closed == "down":
        con.execute(
            "insert into marts.fct_health__node_minutes select 'q1', m, 'r1', 'down', false "
            "from generate_series(?::timestamp, ?::timestamp, interval 1 minute) t(m)",
            [CHANGED_AT - timedelta(hours=1), CHANGED_AT + timedelta(hours=1)],
        )
    hits = _hits(con)
    if closed is None:  # open, q1 was the better fit all along: every placement on p1 is flagged, before and since
        assert hits.is_empty()  # the hour before shows it as much as the hour since: no change to blame
        assert _unpacked_share(con) == 1.0
    else:
        assert hits.is_empty()
        assert _unpacked_share(con) == 0.0


def _unpacked_share(con) -> float:
    from pipelines.detect.cohorts.placement import UNPACKED_STARTS

    placed = con.sql(UNPACKED_STARTS, params=[WINDOW[0], WINDOW[1], 120]).pl().filter(pl.col("region") == "r1")
    return placed["unpacked"].mean()
