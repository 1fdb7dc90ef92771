"""Every DuckDB connection the package opens, and what it asks of one: which tables exist with which columns, and
results as Polars frames. One place, so that every part opens and asks the warehouse the same way (a warehouse may
lack a source, or predate a column). duckdb and polars are imported where used: the benchmark's references call
`quiet` without paying for them."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime

    import duckdb
    import polars as pl

# DuckDB's share of a step's memory: the rest of the 4 GiB every step keeps to is Python's, Polars' and Arrow's (about
# 1.2 GiB in a build, with Dagster, Great Expectations and Plotly imported). DuckDB fills its share: the GPU-minute
# fact's full build of 30 days peaked at 3,083 MiB alone in a process at 3 GB and at 2,095 MiB at 2 GB, so at 3 GB a
# build touched 4 GiB (4,076 MiB at 30 days, while publishing). 2.5 GB leaves the rest a gigabyte and a half; a week's
# build ran 4-9 % longer at 2.5 GB than at 3 GB when last measured
MEMORY_LIMIT = os.environ.get("GOODPUT_DUCKDB_MEMORY", "2.5GB")


def connect(db_path: str | Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection with UTC session time (zoned timestamps land as the UTC wall clock), no progress bar and
    bounded memory."""
    import duckdb

    if not read_only:  # a reader of a missing file gets DuckDB's error, not a new empty folder
        Path(db_path).parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(db_path), read_only=read_only)
    con.execute("set TimeZone = 'UTC'")
    quiet(con)
    # bounded memory: DuckDB spills to disk beyond this instead of taking most of a shared machine
    con.execute(f"set memory_limit = '{MEMORY_LIMIT}'")
    con.execute("set preserve_insertion_order = false")  # big CREATE TABLE AS can then stream and spill
    return con


def quiet(con):
    """The connection, with the progress bar off: DuckDB draws one on stdout for any statement over two seconds,
    which would break the commands that print JSON there (DuckDB 2 refuses it as a connect-time option)."""
    import duckdb  # already loaded by whoever opened `con`

    try:
        con.execute("set enable_progress_bar = false")
    except duckdb.InvalidInputException:  # in Jupyter without ipywidgets DuckDB refuses to touch the setting
        pass
    return con


def fetch(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence | None = None) -> pl.DataFrame:
    """A query's result as a Polars frame; values only ever as bound parameters."""
    return con.sql(sql, params=list(params) if params else None).pl()


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    found = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?", [schema, table]
    ).fetchall()
    return bool(found and found[0][0])


def table_columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> set[str]:
    rows = con.execute(
        "select column_name from information_schema.columns where table_schema = ? and table_name = ?", [schema, table]
    ).fetchall()
    return {row[0] for row in rows}


def schema_columns(con: duckdb.DuckDBPyConnection, schema: str) -> dict[str, set[str]]:
    """The columns of every table of a schema, in one look (a tick checks every source's raw table)."""
    rows = con.execute(
        "select table_name, column_name from information_schema.columns where table_schema = ?", [schema]
    ).fetchall()
    found: dict[str, set[str]] = {}
    for table, column in rows:
        found.setdefault(table, set()).add(column)
    return found


def newest_load(con: duckdb.DuckDBPyConnection, table: str, after: datetime | None = None) -> datetime | None:
    """The newest `_loaded_at` of a raw table, looked for only after `after` when given (`after` itself when
    nothing is newer): the rows loaded since lie in the table's last row groups, which DuckDB finds by their min and
    max, while a max over the whole column reads every row of the history (155M on 90 days of GPU telemetry)."""
    from sqlglot import exp

    name = exp.to_table(table).sql("duckdb")
    if after is None:
        return con.execute(f"select max(_loaded_at) from {name}").fetchall()[0][0]
    query = f"select max(_loaded_at) from {name} where _loaded_at > $after"
    (newest,) = con.execute(query, {"after": after}).fetchall()[0]
    return newest or after
