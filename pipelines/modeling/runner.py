"""Running a model into DuckDB: a full rebuild, or an incremental window that replaces only its time range.

Incremental models filter their output time with the parameters `$window_start` and `$window_end`; a full build binds
them to the widest range, a tick or a backfill to the range it recomputes (delete the range, insert it again).
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import sqlglot
from sqlglot import exp

from pipelines.modeling.project import Model

FULL_WINDOW = (datetime(1970, 1, 1), datetime(9999, 12, 31))


def placeholders(sql: str) -> set[str]:
    return {p.name for p in sqlglot.parse_one(sql, dialect="duckdb").find_all(exp.Placeholder)}


def run_model(con: duckdb.DuckDBPyConnection, model: Model, window: tuple[datetime, datetime] | None = None) -> int:
    """Materialise the model; with a window, an incremental model recomputes only that range. Returns rows written."""
    con.execute(f"create schema if not exists {model.layer}")
    params = dict(zip(("window_start", "window_end"), window or FULL_WINDOW, strict=True))
    params = {k: v for k, v in params.items() if k in placeholders(model.sql)}
    target = exp.to_table(model.table).sql("duckdb")
    exists = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [model.layer, model.name],
    ).fetchone()[0]
    if window is None or not model.incremental or not exists:
        con.execute(f"create or replace table {target} as {model.sql}", params or None)
        return con.execute(f"select count(*) from {target}").fetchone()[0]
    time_column = exp.to_identifier(model.incremental["time_column"], quoted=True).sql("duckdb")
    con.execute("begin transaction")
    con.execute(
        f"delete from {target} where {time_column} >= $window_start and {time_column} < $window_end",
        {"window_start": window[0], "window_end": window[1]},
    )
    written = con.execute(f"insert into {target} {model.sql}", params or None).fetchone()[0]
    con.execute("commit")
    return written
