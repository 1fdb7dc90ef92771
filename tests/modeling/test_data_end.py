"""Where the data ends for what is still open: a job still running or queued goes on until the GPU telemetry ends,
not only until the scheduler's last event (a quiet spell sends none). Worked by hand on the tiny fleet."""

import duckdb
import pyarrow.parquet as pq

from pipelines.orchestration.build import build
from tests.fixtures.tiny_fleet import T0, write, write_tiny_fleet


def test_running_and_queued_jobs_go_on_until_the_telemetry_ends(tmp_path):
    """Without A's end at 11:00 the scheduler's last event is B's failure at 10:30, while the telemetry runs to
    10:59. C (running since 10:00) then holds its GPU 60 minutes, A 60, and D waits all 60 minutes of the hour; with
    the scheduler's end alone A and C held theirs 30 minutes (10:00 to 10:29)."""
    landing = tmp_path / "landing"
    write_tiny_fleet(landing)
    (events_file,) = (landing / "scheduler_events").rglob("*.parquet")
    events = pq.read_table(events_file).to_pylist()
    quiet = [e for e in events if not (e["job_id"] == "A" and e["event_type"] == "ended")]
    assert len(quiet) == len(events) - 1
    write(landing, "scheduler_events", quiet)  # the same file, rewritten
    build(landing, tmp_path / "w.duckdb", progress=False)
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        held = dict(
            con.execute(
                "select job_id, count(*) from intermediate.int_gpu_minutes__allocation group by job_id"
            ).fetchall()
        )
        waited = con.execute(
            "select count(*), min(minute_at), max(minute_at) from intermediate.int_regions__class_waits "
            "where workload_class = 'batch'"
        ).fetchall()
    assert held == {"A": 60, "B": 30, "C": 60}
    assert waited == [(60, T0, T0.replace(minute=59))]
