"""A checkpoint costs a job what the cohort's reference checkpoint costs (the job's own overhead, a workload loss);
only the time past the reference is a slow write (data_io), so more checkpointing jobs never read as a storage fault.
Worked by hand on the tiny fleet with B's checkpoint at 10:19 taking 30 s instead of 12 s."""

import duckdb
import pytest

from pipelines.orchestration.build import build
from tests.fixtures.tiny_fleet import at, runtime_rows, write, write_tiny_fleet


@pytest.fixture(scope="module")
def slow_write_db(tmp_path_factory):
    """A and B share a cohort (resnet50, one H100) and its first hour, which is its own reference: the median of
    the hour's two checkpoints, 12 s and 30 s, is 21 s."""
    root = tmp_path_factory.mktemp("slow_write")
    write_tiny_fleet(root / "landing")
    rows = runtime_rows()
    for row in rows:
        if row["job_id"] == "B" and row["checkpoint_s"] > 0:
            row["checkpoint_s"] = 30.0
            row["steps"] = (60 - 30.0) / row["step_time_s"]
    write(root / "landing", "job_runtime_metrics", rows)  # the same file, rewritten
    build(root / "landing", root / "w.duckdb", progress=False)
    with duckdb.connect(str(root / "w.duckdb"), read_only=True) as con:
        yield con


def test_the_reference_checkpoint_is_the_median_of_the_cohorts_checkpoints(slow_write_db):
    refs = slow_write_db.execute(
        "select ref_checkpoint_s, ref_step_s from intermediate.int_runtime__reference_step_times"
    ).fetchall()
    assert refs == [(21.0, 0.5)]


def test_checkpoint_time_splits_at_the_reference(slow_write_db):
    """A at 10:29: 12 s, within the reference: 0.2 GPU-min of overhead (96 steps of 0.5 s, efficiency 0.8).
    B at 10:19: 30 s, so 21 s of overhead (0.35) and 9 s of slow write (0.15); 60 steps, efficiency 0.5, and the
    two parts are exactly the 0.5 it lost. In all: overhead 0.55, slow write 0.15."""
    rows = slow_write_db.execute(
        "select job_id, minute_at, loss_checkpoint_overhead_gpu_min, loss_checkpoint_gpu_min, productive_gpu_min "
        "from marts.fct_goodput__gpu_minutes where loss_checkpoint_overhead_gpu_min > 0 order by job_id"
    ).fetchall()
    assert [(r[0], r[1]) for r in rows] == [("A", at(29)), ("B", at(19))]
    assert [r[2:] for r in rows] == [
        (pytest.approx(0.2), pytest.approx(0.0), pytest.approx(0.8)),
        (pytest.approx(0.35), pytest.approx(0.15), pytest.approx(0.5)),
    ]


def test_the_split_keeps_its_families_in_the_rollups(slow_write_db):
    (overhead, slow) = slow_write_db.execute(
        "select sum(loss_checkpoint_overhead_gpu_min), sum(loss_checkpoint_gpu_min) from marts.fct_goodput__5min"
    ).fetchone()
    assert (overhead, slow) == (pytest.approx(0.55), pytest.approx(0.15))
