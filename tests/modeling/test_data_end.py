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


def test_the_span_is_the_telemetrys_first_minute_and_the_end_of_its_last_from_a_row_per_day(tmp_path):
    """The tiny fleet's telemetry runs 10:00 to 10:59 of one day: one row in the days table, and a span to 11:00
    (the end of its last minute), the same as the raw rows' own min and max."""
    landing = tmp_path / "landing"
    write_tiny_fleet(landing)
    build(landing, tmp_path / "w.duckdb", progress=False)
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        days = con.execute("select day_at, first_ts, last_ts from staging.stg_gpu_telemetry__days").fetchall()
        span = con.execute("select started_at, ended_at from intermediate.int_gpu_telemetry__span").fetchall()
        raw = con.execute("select min(ts), max(ts) from raw.gpu_telemetry").fetchall()
    assert len(days) == 1 and days[0][0] == T0.replace(hour=0)
    assert (days[0][1], days[0][2]) == raw[0]
    assert span == [(T0, T0.replace(hour=T0.hour + 1))]


def test_the_scheduler_end_is_the_last_event_of_a_row_per_day(tmp_path):
    """The tiny fleet's scheduler events fall on one day and end with A's end at 11:00: one row in the event days,
    the raw events' own max; the data end is that 11:00 (the telemetry ends at 11:00 too)."""
    landing = tmp_path / "landing"
    write_tiny_fleet(landing)
    build(landing, tmp_path / "w.duckdb", progress=False)
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        days = con.execute("select day_at, last_event_at from staging.stg_scheduler__event_days").fetchall()
        raw = con.execute("select max(event_at) from raw.scheduler_events").fetchall()
        end = con.execute("select ended_at from intermediate.int_data__end").fetchall()
    assert days == [(T0.replace(hour=0), raw[0][0])]
    assert raw[0][0] == T0.replace(hour=T0.hour + 1)
    assert end == [(T0.replace(hour=T0.hour + 1),)]
