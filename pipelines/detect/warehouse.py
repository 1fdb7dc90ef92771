"""Reading the warehouse into Polars for the detectors: bound parameters only."""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import polars as pl


def fetch(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence | None = None) -> pl.DataFrame:
    return con.sql(sql, params=list(params) if params else None).pl()
