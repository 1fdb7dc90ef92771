"""The 5-minute tick (what the schedule runs) on a built warehouse: five new minutes in, and every mart the same as
a full rebuild of the same landing would make."""

import shutil
from datetime import timedelta

import duckdb
import pytest

from bench.workloads import add_tick
from pipelines.orchestration.build import build
from pipelines.orchestration.tick import tick
from pipelines.warehouse.publish import clone

COMPARED = {
    "marts.fct_goodput__gpu_minutes": "minute_at",
    "marts.fct_goodput__5min": "bucket_at",
    "marts.fct_scheduler__region_minutes": "minute_at",
    "marts.fct_health__node_minutes": "minute_at",
    "intermediate.int_regions__pending_demand": "minute_at",
    "marts.fct_goodput__hourly": "bucket_at",
    "intermediate.int_jobs__attempts": "started_at",  # keyed, published by day of start
    "intermediate.int_jobs__queue_spans": "queued_at",
    "intermediate.int_regions__class_waits": "minute_at",
    "intermediate.int_runtime__reference_step_times": "hour_at",
}


@pytest.fixture(scope="module")
def ticked(tmp_path_factory, landing, incidents_db_path):
    root = tmp_path_factory.mktemp("tick")
    shutil.copytree(landing, root / "landing")
    clone(incidents_db_path, root / "ticked.duckdb")
    add_tick(root / "landing", 0)  # the bench's first tick: five minutes and a policy change an hour before
    result = tick(root / "landing", root / "ticked.duckdb")
    build(root / "landing", root / "full.duckdb", progress=False)
    return root, result


def _summary(path, table: str, time_column: str) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        columns = con.execute(f"describe {table}").fetchall()
        numeric = [c for c, kind, *_ in columns if kind in ("DOUBLE", "BIGINT", "INTEGER", "HUGEINT")]
        sums = ", ".join(f"sum({c})::double" for c in numeric)
        return con.execute(f"select count(*), max({time_column}), {sums} from {table}").fetchall()


def test_a_tick_loads_the_new_minutes(ticked):
    _, result = ticked
    assert result["new_rows"] > 0 and result["data_end"] is not None


@pytest.mark.parametrize("table", sorted(COMPARED))
def test_a_tick_leaves_the_same_marts_as_a_full_rebuild(ticked, table):
    root, _ = ticked
    time_column = COMPARED[table]
    ticked, full = (
        _summary(root / "ticked.duckdb", table, time_column),
        _summary(root / "full.duckdb", table, time_column),
    )
    # sums of floats are compared to 1e-9: parallel scans add in any order, which moves the last digits
    assert ticked[0][:2] == full[0][:2] and ticked[0][2:] == pytest.approx(full[0][2:], rel=1e-9)


def test_the_benchs_policy_change_passes_the_contract_so_its_ticks_run_the_policy_rules(ticked):
    root, result = ticked
    with duckdb.connect(str(root / "ticked.duckdb"), read_only=True) as con:
        changed = con.execute(
            "select changed_at from staging.stg_changes__events where change_id = 'chg-bench-tick'"
        ).fetchall()
    assert len(changed) == 1  # an hour before the tick's minutes: inside the day the policy rules watch
    assert timedelta(hours=1) < result["data_end"] - changed[0][0] < timedelta(hours=2)


def test_the_tick_restated_work_lost_before_its_window(ticked):
    """The equalities above hold for lost work only if the tick restated some: attempts that failed in its five
    minutes, whose minutes before the window (back to their checkpoint) are now lost, and only theirs."""
    root, result = ticked
    with duckdb.connect(str(root / "ticked.duckdb"), read_only=True) as con:
        lost_jobs = con.execute(
            "select count(distinct job_id) from marts.fct_goodput__gpu_minutes "
            "where loss_after_checkpoint_gpu_min > 0 and minute_at < ? "
            "and job_id in (select job_id from raw.scheduler_events where event_type = 'ended' and event_at >= ?)",
            [result["data_end"] - timedelta(minutes=5), result["data_end"] - timedelta(minutes=5)],
        ).fetchone()[0]
    assert lost_jobs > 0
