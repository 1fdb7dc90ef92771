"""`goodput build`: materialise the raw assets in-process (Dagster's in-process executor, one source at a time in
dependency order, so a progress bar can follow) and report what was loaded."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import duckdb
import sqlglot
from dagster import AssetKey, DagsterInstance, materialize
from tqdm import tqdm

from pipelines.contracts import SOURCES
from pipelines.detect.assets import DETECTION_ASSETS
from pipelines.detect.store import detect
from pipelines.ingest.assets import RAW_ASSETS, RECONCILES
from pipelines.ingest.load import load_adapter_quarantine, load_source, reconciliation, top_quarantine_reasons
from pipelines.modeling.assets import MODEL_ASSETS
from pipelines.modeling.project import build_order as model_order
from pipelines.modeling.project import load_project
from pipelines.modeling.restatement import Restatement, restatement_window
from pipelines.modeling.runner import drop_retired, run_model
from pipelines.quality.checks import QUALITY_CHECKS
from pipelines.reports.assets import REPORT_CHECKS
from pipelines.reports.campaigns import register_new
from pipelines.resources import Warehouse
from pipelines.timing import StepClock
from pipelines.warehouse import Layout, writer_lock
from pipelines.warehouse.connection import connect, newest_load, table_exists
from pipelines.warehouse.publish import Published, publish

ALL_ASSETS = [*RAW_ASSETS, *MODEL_ASSETS, *DETECTION_ASSETS, *QUALITY_CHECKS, *REPORT_CHECKS]

QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


# a build that quarantined more than this share of a source's landed rows (and at least MIN rows) is an error: the
# rows stay quarantined, but the warehouse no longer describes the fleet the source describes
MAX_QUARANTINED_SHARE = float(os.environ.get("GOODPUT_MAX_QUARANTINED_SHARE", "0.1"))
MIN_QUARANTINED_ROWS = 10


class BuildError(RuntimeError):
    """A step of the build failed (not bad data: that is quarantined, never an error)."""


@dataclass
class SourceLoad:
    source: str
    new_files: int
    skipped_files: int
    landed: int
    accepted: int
    quarantined: int
    total_rows: int
    unreadable: list[dict]
    reconciles: bool


def heavy_quarantine(loads: list[SourceLoad], db: str | Path, since: datetime, limit: float | None = None) -> list[str]:
    """One line per source whose load quarantined more than the allowed share of its rows, with the top reasons."""
    limit = MAX_QUARANTINED_SHARE if limit is None else limit
    heavy = [x for x in loads if x.quarantined >= MIN_QUARANTINED_ROWS and x.quarantined > limit * x.landed]
    if not heavy:
        return []
    lines = []
    with connect(db, read_only=True) as con:
        for load in heavy:
            reasons = top_quarantine_reasons(con, load.source, since)
            listed = "; ".join(f"{reason} ({count:,})" for reason, count in reasons)
            lines.append(
                f"error: {load.source}: {load.quarantined / load.landed:.1%} of {load.landed:,} landed rows "
                f"quarantined (limit {limit:.0%}); top reasons: {listed}"
            )
    return lines


def build_order() -> list[str]:
    """Sources with their references first (inventory before the telemetry that must match it)."""
    done: list[str] = []
    pending = list(SOURCES)
    while pending:
        for name in list(pending):
            if all(ref.source in done for ref in SOURCES[name].references):
                done.append(name)
                pending.remove(name)
    return done


def build(
    landing: str | Path,
    db: str | Path,
    progress: bool = True,
    models: bool = True,
    window: tuple[datetime, datetime] | None = None,
    wait_s: float | None = None,
) -> list[SourceLoad]:
    """Load every source, then (unless models=False) run every SQL model, each as its Dagster asset: a full
    rebuild, or with a window an incremental run that recomputes only that time range of the big facts. The writer
    lock is held throughout; the result is published for readers at `db` once everything succeeded."""
    landing = Path(landing)
    if not landing.is_dir():
        raise BuildError(f"landing folder {landing} does not exist")
    layout = Layout.of(db)
    with writer_lock(layout, "goodput build", wait_s):
        layout.adopt_legacy_file()
        loads, restated, loaded_since = _build_locked(landing, db, progress, models, window)
        with tqdm(total=1, desc="publishing", disable=not progress) as bar:
            with connect(layout.work) as con:
                publish_working(con, layout, None if restated is None else restated, loaded_since)
            bar.update()
    return loads


def _build_locked(landing: Path, db, progress: bool, models: bool, window):
    warehouse = Warehouse(db_path=str(db), landing_dir=str(landing))
    instance = DagsterInstance.ephemeral()
    # one in-process run loads every source (Dagster orders inventory before the telemetry checked against it)
    names = build_order()
    loaded_since = _clock()
    with tqdm(total=1, desc=f"loading {len(names)} sources", disable=not progress) as bar:
        result = _materialize([AssetKey(["raw", name]) for name in names], warehouse, instance)
        bar.update()
    loads = [_summary(name, result) for name in names]
    with warehouse.connect() as con:
        load_adapter_quarantine(con, landing)
    restated = None
    if window is not None:
        with warehouse.connect() as con:
            restated = restatement_window(con, window, loaded_since)
        warehouse = Warehouse(
            db_path=str(db),
            landing_dir=str(landing),
            window_start=restated.window[0].isoformat(),
            window_end=restated.window[1].isoformat(),
            lost_from=restated.lost_from.isoformat() if restated.lost_from else "",
        )
    if models:
        with warehouse.connect() as con:
            drop_retired(con)
        # one in-process run for every model: Dagster orders them by their parsed dependencies
        keys = [AssetKey(name.split(".")) for name in model_order(load_project())]
        with tqdm(total=1, desc=f"modelling {len(keys)} models", disable=not progress) as bar:
            _materialize(keys, warehouse, instance)
            bar.update()
        # detection replays every 5-minute tick in the data (or, on a tick, re-judges the recent window)
        with tqdm(total=1, desc="detecting", disable=not progress) as bar:
            _materialize([asset.key for asset in DETECTION_ASSETS], warehouse, instance)
            bar.update()
    return loads, restated, loaded_since


def publish_working(
    con: duckdb.DuckDBPyConnection,
    layout: Layout,
    restated: Restatement | None,
    loaded_since: datetime | None,
    clock: StepClock | None = None,
) -> Published:
    """Register new campaigns (readers cannot write), then publish: only what changed since `restated` began, or
    everything when it is None (a full build)."""
    if table_exists(con, "staging", "stg_jobs__submissions"):
        register_new(con)
    changed_from = None
    if restated is not None:
        changed_from = min(t for t in (restated.window[0], restated.lost_from) if t is not None)
    return publish(
        con, layout, changed_from, data_end(con), loaded_through(con, loaded_since), clock=clock or StepClock()
    )


def loaded_through(con: duckdb.DuckDBPyConnection, fallback: datetime | None) -> datetime | None:
    """The newest load stamp in raw, `fallback` (the load's start) when none is later: the next tick treats every row
    loaded after it as new (a build's raw assets stamp their rows with their own clock, later than the build's
    start; nothing loads between two ticks, which hold the writer lock)."""
    stamps = [newest_load(con, f"raw.{name}", fallback) for name in SOURCES if table_exists(con, "raw", name)]
    return max((s for s in stamps if s is not None), default=fallback)


def data_end(con: duckdb.DuckDBPyConnection) -> datetime | None:
    """Where the GPU telemetry ends: the next tick starts there."""
    if not table_exists(con, "staging", "stg_gpu_telemetry__days"):
        return None
    return con.execute(data_end_sql()).fetchall()[0][0]


SPAN = "intermediate.int_gpu_telemetry__span"


@cache
def data_end_sql() -> str:
    """The data end as the span model defines it (the one definition detection also reads), from the model's own
    SQL, so that it holds before the span's view is created (a warehouse built before the view existed)."""
    span = sqlglot.parse_one(load_project()[SPAN].sql, dialect="duckdb")
    return sqlglot.select("ended_at").from_(span.subquery("span")).sql("duckdb")


def update(
    con: duckdb.DuckDBPyConnection,
    landing: str | Path,
    window: tuple[datetime, datetime],
    loaded_after: datetime | None = None,
    clock: StepClock | None = None,
) -> tuple[list[SourceLoad], Restatement, datetime]:
    """The tick's update: the same functions the raw, model and detection assets call, in the order Dagster gives
    them, on the tick's one connection. The tick is already a Dagster job; launching a run per asset inside it would
    cost about four seconds of a five-second budget in run and event bookkeeping. `loaded_after`: when the last
    published tick loaded, so that rows a killed tick loaded since count as new (returns the loads, what was
    restated and this load's time). `clock` collects the seconds of each step."""
    clock = clock or StepClock()
    loaded_since = _clock()
    with clock.step("load"):
        loads = load_all(con, landing, loaded_since)
    new_since = loaded_since if loaded_after is None else min(loaded_since, loaded_after + timedelta(microseconds=1))
    with clock.step("restatement_window"):
        restated = restatement_window(con, window, new_since)
    drop_retired(con)
    project = load_project()
    for name in model_order(project):
        with clock.step(name):
            run_model(con, project[name], restated.window, count_views=False, lost_from=restated.lost_from)
    with clock.step("detect"):  # lost_from is earlier than the window
        detect(con, until=restated.window[1], since=restated.lost_from or restated.window[0], clock=clock)
    return loads, restated, loaded_since


def load_all(con: duckdb.DuckDBPyConnection, landing: str | Path, loaded_since: datetime) -> list[SourceLoad]:
    """Every source's new landing files through its contract, in dependency order, stamped `loaded_since`, and the
    lines the adapters could not use; what each source loaded and whether its counts reconcile."""
    landing = Path(landing)
    if not landing.is_dir():
        raise BuildError(f"landing folder {landing} does not exist")
    loads = []
    for name in build_order():
        report = load_source(con, SOURCES[name], landing, now=loaded_since)
        totals = reconciliation(con, SOURCES[name])
        loads.append(
            SourceLoad(
                source=name,
                new_files=len(report.results),
                skipped_files=report.files_skipped,
                landed=report.landed,
                accepted=report.accepted,
                quarantined=report.quarantined,
                total_rows=totals["accepted"],
                unreadable=[{"file": r.file, "error": r.error} for r in report.unreadable],
                reconciles=totals["landed"] == totals["accepted"] + totals["quarantined"]
                and not totals["unreadable_files"],
            )
        )
    load_adapter_quarantine(con, landing)
    return loads


def _clock() -> datetime:
    """The load time stamped on raw rows (naive UTC), taken before a load so that its rows are found by it."""
    return datetime.now(UTC).replace(tzinfo=None)


def _materialize(keys: AssetKey | list[AssetKey], warehouse: Warehouse, instance: DagsterInstance):
    keys = keys if isinstance(keys, list) else [keys]
    result = materialize(
        ALL_ASSETS,
        selection=keys,
        resources={"warehouse": warehouse},
        instance=instance,
        run_config=QUIET_LOGS,
        raise_on_error=False,
    )
    if not result.success:
        failure = next((e for e in result.all_events if e.is_failure), None)
        message = failure.message if failure else "unknown failure"
        cause = _root_cause(failure)
        raise BuildError(f"build failed: {message}" + (f" {cause}" if cause else ""))
    return result


def _root_cause(failure) -> str | None:
    """The first line of the innermost error under a failed step (a full disk, a bad model), which Dagster's own
    message ("Execution of step ... failed.") leaves out: the user must not have to dig through the run's log."""
    data = failure.step_failure_data if failure is not None and failure.is_step_failure else None
    error = data.error if data is not None else None
    root = None
    while error is not None:
        root, error = error, error.cause
    if root is None:
        return None
    lines = root.message.strip().splitlines()
    return lines[0] if lines else None


def _summary(name: str, result) -> SourceLoad:
    key = AssetKey(["raw", name])
    event = next(e for e in result.get_asset_materialization_events() if e.asset_key == key)
    meta = {k: v.value for k, v in event.materialization.metadata.items()}
    # the load's own check (landed = accepted + quarantined); the data-quality suites report on their own
    checks = [c for c in result.get_asset_check_evaluations() if c.asset_key == key and c.check_name == RECONCILES]
    return SourceLoad(
        source=name,
        new_files=int(meta["new_files"]),
        skipped_files=int(meta["skipped_files"]),
        landed=int(meta["landed_rows"]),
        accepted=int(meta["accepted_rows"]),
        quarantined=int(meta["quarantined_rows"]),
        total_rows=int(meta["total_rows"]),
        unreadable=list(meta["unreadable_files"]),
        reconciles=all(c.passed for c in checks),
    )
