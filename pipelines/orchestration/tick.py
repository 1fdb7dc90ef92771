"""The 5-minute tick: load what is new, recompute the incremental models over the new time range, re-judge the
recent alerts, queue pages and tickets and deliver what the webhooks accept. The Dagster schedule runs it every five
minutes and the sensor whenever new landing files appear; `goodput tick` runs it by hand. Readers see its result
only once it has published: a tick never shows half of itself."""

from __future__ import annotations

import os
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

from pipelines.detect.routing import deliver, enqueue
from pipelines.orchestration.build import build, data_end, publish_working, update
from pipelines.resources import Warehouse
from pipelines.timing import StepClock
from pipelines.warehouse import Layout, writer_lock
from pipelines.warehouse.connection import connect
from pipelines.warehouse.publish import TIMED_UNCHANGED, current_manifest, publish

FAR = timedelta(days=3650)


def tick(landing: str | Path, db: str | Path, progress: bool = False, wait_s: float | None = None) -> dict:
    """One tick on one connection to the working file (each open costs about 50 ms of the five-second budget),
    under the writer lock, published for readers at the end; a first tick on an empty warehouse is a full build.
    It starts where the last published tick ended, so a tick killed midway is simply done again."""
    layout = Layout.of(db)
    with writer_lock(layout, "goodput tick", wait_s):
        layout.adopt_legacy_file()
        manifest = current_manifest(layout)
        if layout.work.exists() and manifest is not None:
            with connect(layout.work) as con:
                before = _published_time(manifest, "data_end") or data_end(con)
                if before is not None:
                    loaded_after = _published_time(manifest, "load_started_at")
                    clock = StepClock()
                    # one checkpoint, at the end and on the clock, rather than one inside whichever write fills the
                    # log past DuckDB's 16 MB (a tick writes about that much)
                    con.execute("set checkpoint_threshold = '1GB'")
                    loads, restated, loaded_since = update(con, landing, (before, before + FAR), loaded_after, clock)
                    with clock.step("page"):
                        result = finish_tick(con, loads, before)
                    with clock.step("publish"):
                        published = publish_working(con, layout, restated, loaded_since, clock)
                    with clock.step("checkpoint"):  # what closing the file would do, on the clock
                        con.execute("checkpoint")
                    return {**result, "published": published.generation, "publish_s": round(published.seconds, 2),
                            "steps_s": clock.rounded()}  # fmt: skip
        loads = build(landing, db, progress=progress)
        with connect(layout.work) as con:
            result = finish_tick(con, loads, None)
            published = publish(con, layout, TIMED_UNCHANGED)  # the outbox changed
        return {**result, "published": published.generation, "publish_s": round(published.seconds, 2), "steps_s": {}}


def _published_time(manifest: dict, key: str) -> datetime | None:
    value = manifest.get(key)
    return datetime.fromisoformat(value) if value else None


def finish_tick(con, loads: list, before: datetime | None) -> dict:
    """Queue the pages and tickets the new data raised and deliver what the webhooks accept."""
    after = data_end(con) or before
    queued = enqueue(con, after, before or after - timedelta(minutes=5)) if after else 0
    sent = deliver(con, datetime.now(UTC).replace(tzinfo=None), data_at=after)
    return {"new_rows": sum(x.accepted for x in loads), "data_end": after, "queued": queued, **sent}


PROMETHEUS_URL = "GOODPUT_PROMETHEUS_URL"
FIRST_PULL = timedelta(hours=1)  # how far back a first pull from a Prometheus server reaches (then its watermark)


@op(description="Pull what is new from Prometheus (with GOODPUT_PROMETHEUS_URL), ingest new landing files, update "
    "incremental models, detect, route alerts.")  # fmt: skip
def run_tick(context, warehouse: Warehouse) -> None:
    url = os.environ.get(PROMETHEUS_URL)
    if url:
        from pipelines.adapters.prometheus_server import pull

        now = datetime.now(UTC).replace(tzinfo=None)
        pulled = pull(url, warehouse.landing, now - FIRST_PULL)  # up to five minutes ago: late samples settle
        context.log.info(f"prometheus: {pulled.samples} samples, rows {pulled.rows}")
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
