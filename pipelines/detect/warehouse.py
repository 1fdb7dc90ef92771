"""Reading the warehouse into Polars for the detectors: bound parameters only."""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import polars as pl


def fetch(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence | None = None) -> pl.DataFrame:
    return con.sql(sql, params=list(params) if params else None).pl()


def exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    found = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?", [schema, table]
    ).fetchall()
    return bool(found and found[0][0])
