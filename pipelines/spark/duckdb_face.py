"""The DuckDB file a Spark warehouse publishes, `<warehouse>/goodput.duckdb`, so that detection, paging, `explain`,
`alerts`, the reports and analysts work on it as on a DuckDB build.

Detection and what reads its output need the marts, which stay small at any fleet size (a row per slice and five
minutes), and the few staging views over raw they look up: all of it is read straight from the Spark folder's
Parquet, through views in the ledger. Detection then runs there, its alert log lands in the ledger, and the ledger is
published like any DuckDB warehouse (`pipelines.warehouse`), its raw tables as views over the Spark raw export
rather than as parts of their own, so no row is stored a third time.
"""

from __future__ import annotations

from datetime import datetime

import duckdb
from sqlglot import exp

from pipelines.detect.store import detect
from pipelines.modeling.project import Model, build_order
from pipelines.spark.folder import SparkFolder
from pipelines.warehouse.publish import TIMED_UNCHANGED, Published, publish


def publish_face(
    con: duckdb.DuckDBPyConnection,
    folder: SparkFolder,
    project: dict[str, Model],
    data_end: datetime | None,
    loaded_since: datetime,
    since: datetime | None,
    paged_from: datetime | None = None,
) -> Published:
    """Views over the Spark tables in the ledger, detection over them (from `since`, or every tick in the data),
    on a tick the pages and tickets raised since `paged_from` queued and delivered as a DuckDB tick does, then the
    ledger published at `<warehouse>/goodput.duckdb`."""
    for name in build_order(project):
        model = project[name]
        con.execute(f"create schema if not exists {exp.to_identifier(model.layer).sql('duckdb')}")
        query = model.sql if model.materialized == "view" else _scan(folder, name)
        con.execute(_view_sql(model.table, query).replace("CREATE VIEW", "CREATE OR REPLACE VIEW", 1))
    detect(con, until=data_end, since=since)
    if paged_from is not None:
        from pipelines.orchestration.tick import finish_tick

        finish_tick(con, [], paged_from)
    raw = {f"raw.{t.name}": _view_sql(f"raw.{t.name}", _scan(folder, f"raw.{t.name}"))
           for t in sorted((folder.root / "raw").iterdir()) if t.is_dir()}  # fmt: skip
    changed = None if since is None else TIMED_UNCHANGED  # no table of the ledger is kept by time
    return publish(con, folder.ledger, changed, data_end=data_end, load_started_at=loaded_since, kept_elsewhere=raw)


def _scan(folder: SparkFolder, name: str) -> str:
    pattern = exp.Literal.string(str(folder.table(name) / "**" / "*.parquet")).sql("duckdb")
    return f"select * from read_parquet({pattern}, union_by_name = true, hive_partitioning = false)"


def _view_sql(name: str, query: str) -> str:
    return f"CREATE VIEW {exp.to_table(name).sql('duckdb')} AS {query}"
