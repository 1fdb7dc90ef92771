"""What the warehouse file holds: which tables exist and with which columns. One place, so that every part asks
DuckDB's catalogue the same way (a warehouse may lack a source, or predate a column)."""

from __future__ import annotations

import duckdb


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
