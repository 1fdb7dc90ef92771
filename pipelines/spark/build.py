"""`goodput build --engine spark` and `goodput tick --engine spark`: the landing through the same contracts, then
every model of models/ on Spark into a folder of Parquet tables (see `pipelines.spark.folder`).

The contracts run where they run for DuckDB (`load_all`: per landing file, with the manifest, the quarantine and the
reconciliation), in the folder's ledger; what they accept is exported once as Parquet, one file per load, and every
model from there on runs on Spark.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlglot import exp
from tqdm import tqdm

from pipelines.contracts import SOURCES
from pipelines.ingest.load import QUARANTINE, ensure_raw_schema
from pipelines.modeling.project import build_order, load_project
from pipelines.modeling.restatement import restatement_window
from pipelines.modeling.runner import drop_retired
from pipelines.orchestration.build import SourceLoad, _clock, data_end_sql, load_all
from pipelines.spark.dialect import to_spark
from pipelines.spark.duckdb_face import publish_face
from pipelines.spark.folder import SparkFolder, drop_retired_folders, recover, replace_folder
from pipelines.spark.runner import register_table, register_view, run_model
from pipelines.spark.session import SESSION_MASTER, spark_session
from pipelines.warehouse import writer_lock
from pipelines.warehouse.connection import connect, table_exists

FAR = timedelta(days=3650)  # a tick's window is open to the future, as on DuckDB
LEDGER_TABLES = ("_files", "_quarantine", "_replaced")  # exported whole beside the sources, for readers


@dataclass
class SparkRun:
    """What a Spark build or tick did."""

    loads: list[SourceLoad]
    window: tuple[datetime, datetime] | None
    lost_from: datetime | None
    data_end: datetime | None
    models: int
    seconds: dict[str, float] = field(default_factory=dict)


def build_spark(
    landing: str | Path,
    root: str | Path,
    master: str = SESSION_MASTER,
    progress: bool = True,
    wait_s: float | None = None,
) -> SparkRun:
    """Every new landing file through the contracts, then every model rebuilt whole on Spark."""
    folder = SparkFolder.of(root)
    with writer_lock(folder.ledger, "goodput build --engine spark", wait_s):
        return _run(folder, Path(landing), master, progress, tick=False)


def tick_spark(
    landing: str | Path,
    root: str | Path,
    master: str = SESSION_MASTER,
    progress: bool = False,
    wait_s: float | None = None,
) -> SparkRun:
    """New landing files through the contracts, then each model incremental by time recomputed over the tick's
    window (from where the last tick's data ended) and the rest rebuilt; a first tick is a full build."""
    folder = SparkFolder.of(root)
    with writer_lock(folder.ledger, "goodput tick --engine spark", wait_s):
        return _run(folder, Path(landing), master, progress, tick=True)


def _run(folder: SparkFolder, landing: Path, master: str, progress: bool, tick: bool) -> SparkRun:
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    folder.root.mkdir(parents=True, exist_ok=True)
    recover(folder.root)
    drop_retired_folders(folder)
    state = folder.state()
    exported = _time(state.get("exported_through"))
    before = _time(state.get("data_end")) if tick else None
    loaded_since = _clock()
    with connect(folder.ledger.work) as con:
        ensure_raw_schema(con)
        drop_retired(con)  # the ledger's views over the folders just removed
        loads = load_all(con, landing, loaded_since)
        seconds["contracts"] = time.perf_counter() - started
        through = _export_raw(con, folder, exported if before is not None else None)
        restated = None
        if before is not None:
            new_since = loaded_since if exported is None else exported + timedelta(microseconds=1)
            restated = restatement_window(con, (before, before + FAR), new_since)
    seconds["export"] = time.perf_counter() - started - seconds["contracts"]
    spark = spark_session(master)
    seconds["session"] = time.perf_counter() - started - sum(seconds.values())
    project = load_project()
    order = build_order(project)
    for name in [f"raw.{s}" for s in SOURCES] + [f"raw.{t}" for t in LEDGER_TABLES]:
        register_table(spark, folder, name)
    window = restated.window if restated else None
    lost_from = restated.lost_from if restated else None
    for name in tqdm(order, desc=f"modelling {len(order)} models on Spark", disable=not progress):
        run_model(spark, folder, project[name], window, lost_from)
    seconds["models"] = time.perf_counter() - started - sum(seconds.values())
    end = _data_end(spark)
    with connect(folder.ledger.work) as con:  # detection and the DuckDB face readers open
        since = (lost_from or window[0]) if window else None
        publish_face(con, folder, project, end, loaded_since, since, paged_from=before if tick else None)
    seconds["detect_publish"] = time.perf_counter() - started - sum(seconds.values())
    folder.save_state(data_end=end, exported_through=through, engine="spark", loaded_at=loaded_since)
    seconds["total"] = time.perf_counter() - started
    return SparkRun(loads, window, lost_from, end, len(order), {k: round(v, 2) for k, v in seconds.items()})


def open_folder(root: str | Path, master: str = SESSION_MASTER):
    """A Spark session with every table and view of a built folder in its catalogue (for queries)."""
    folder = SparkFolder.of(root)
    if not folder.state_file.exists():
        raise FileNotFoundError(f"{folder.root} is not a Spark warehouse (build it with goodput build --engine spark)")
    spark = spark_session(master)
    project = load_project()
    for name in folder.tables():
        if name not in project or project[name].materialized != "view":
            register_table(spark, folder, name)
    for name in build_order(project):
        if project[name].materialized == "view":
            register_view(spark, project[name])
    return spark


def _export_raw(con, folder: SparkFolder, exported: datetime | None) -> datetime | None:
    """The rows accepted since `exported` as one Parquet file per load of each source (all of them when None, or
    for a source one of whose landing files was replaced since: its earlier rows gave way). The ledger's manifest
    and quarantine are written whole. Returns the newest load now exported."""
    newest = exported
    for name in SOURCES:
        table = f"raw.{name}"
        target = folder.table(table)
        whole = exported is None or not target.exists() or _replaced_since(con, name, exported)
        # a tick lists only the loads after the last export (zone maps skip the rest of a big raw table)
        listed = f"select distinct _loaded_at from {_q(table)} where _loaded_at > ? order by 1"
        stamps = [r[0] for r in con.execute(listed, [datetime.min if whole else exported]).fetchall()]
        newest = max([*stamps, *([newest] if newest else [])], default=None)
        if whole:
            staged = folder.new_staging()
            staged.mkdir()
            _copy(con, f"select * from {_q(table)} limit 0", staged / "part-schema.parquet")
            for stamp in stamps:
                _copy_load(con, table, stamp, staged)
            replace_folder(target, staged)
            continue
        for stamp in stamps:
            _copy_load(con, table, stamp, target)
    for name in LEDGER_TABLES:
        table = f"raw.{name}"
        staged = folder.new_staging()
        staged.mkdir()
        cast = " replace (record::varchar as record)" if f"raw.{name}" == QUARANTINE else ""
        _copy(con, f"select *{cast} from {_q(table)}", staged / "part-0.parquet")
        replace_folder(folder.table(table), staged)
    return newest


def _copy_load(con, table: str, stamp: datetime, folder: Path) -> None:
    """One load's rows as `part-<stamp>.parquet`, written aside and renamed (a rerun rewrites the same file)."""
    name = f"part-{stamp:%Y%m%dT%H%M%S%f}.parquet"
    query = f"select * from {_q(table)} where _loaded_at = {_literal(stamp)}"
    _copy(con, query, folder / f".{name}.tmp")
    (folder / f".{name}.tmp").rename(folder / name)


def _copy(con, query: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    con.execute(f"copy ({query}) to {exp.Literal.string(str(path)).sql('duckdb')} (format parquet)")


def _replaced_since(con, source: str, since: datetime) -> bool:
    if not table_exists(con, "raw", "_replaced"):
        return False
    query = "select count(*) from raw._replaced where source = ? and replaced_at > ?"
    return bool(con.execute(query, [source, since]).fetchall()[0][0])


def _data_end(spark) -> datetime | None:
    sql, _ = to_spark(data_end_sql())
    return spark.sql(sql).collect()[0][0]


def _q(name: str) -> str:
    return exp.to_table(name).sql("duckdb")


def _literal(moment: datetime) -> str:
    return exp.cast(exp.Literal.string(moment.isoformat(sep=" ")), "timestamp").sql("duckdb")


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
