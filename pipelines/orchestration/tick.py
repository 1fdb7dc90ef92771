"""The 5-minute tick: load what is new, recompute the incremental models over the new time range, re-judge the
recent alerts, queue pages and tickets and deliver what the webhooks accept. The Dagster schedule runs it every five
minutes and the sensor whenever new landing files appear; `goodput tick` runs it by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from dagster import (
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunRequest,
    ScheduleDefinition,
    SensorEvaluationContext,
    SkipReason,
    job,
    op,
    sensor,
)

from pipelines.catalog import table_exists
from pipelines.detect.routing import deliver, enqueue
from pipelines.detect.warehouse import fetch
from pipelines.ingest.load import connect
from pipelines.orchestration.build import build, update
from pipelines.resources import Warehouse

FAR = timedelta(days=3650)


def _data_end(con) -> datetime | None:
    if not table_exists(con, "staging", "stg_gpu_telemetry__minutes"):
        return None
    return fetch(con, "select max(minute_at) + interval 1 minute as e from staging.stg_gpu_telemetry__minutes")["e"][0]


def tick(landing: str | Path, db: str | Path, progress: bool = False) -> dict:
    """One tick on one connection (each open of the warehouse costs about 50 ms of the five-second budget); a first
    tick on an empty warehouse is a full build."""
    db = Path(db)
    if db.exists():
        with connect(db) as con:
            before = _data_end(con)
            if before is not None:
                return _finish(con, update(con, landing, (before, before + FAR)), before)
    loads = build(landing, db, progress=progress)
    with connect(db) as con:
        return _finish(con, loads, None)


def _finish(con, loads: list, before: datetime | None) -> dict:
    """Queue the pages and tickets the new data raised and deliver what the webhooks accept."""
    after = _data_end(con) or before
    queued = enqueue(con, after, before or after - timedelta(minutes=5)) if after else 0
    sent = deliver(con, datetime.now(UTC).replace(tzinfo=None))
    return {"new_rows": sum(x.accepted for x in loads), "data_end": after, "queued": queued, **sent}


@op(description="Ingest new landing files, update incremental models, detect, route alerts.")
def run_tick(context, warehouse: Warehouse) -> None:
    context.log.info(str(tick(warehouse.landing, warehouse.db_path)))


@job(description="The 5-minute tick of goodput.")
def tick_job():
    run_tick()


every_five_minutes = ScheduleDefinition(
    name="every_five_minutes",
    job=tick_job,
    cron_schedule="*/5 * * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.STOPPED,
)


@sensor(job=tick_job, minimum_interval_seconds=30, default_status=DefaultSensorStatus.STOPPED)
def new_landing_files(context: SensorEvaluationContext, warehouse: Warehouse):
    """A tick when a landing file newer than the last one seen appears."""
    newest = max((p.stat().st_mtime for p in warehouse.landing.rglob("*.parquet")), default=0.0)
    if newest <= float(context.cursor or 0):
        return SkipReason("no new landing files")
    context.update_cursor(str(newest))
    return RunRequest(run_key=f"landing-{newest}")
