"""Is a table Spark wrote the table DuckDB built? Compared in DuckDB after typed normalisation: integers (HUGEINT
against BIGINT) and strings and times exactly, floating and decimal columns (DOUBLE against DECIMAL) within a
relative 1e-9, rows matched by the table's key (its primary key, or all its exact columns when they are unique)."""

from __future__ import annotations

import duckdb
from sqlglot import exp

REL_TOL = 1e-9
ABS_TOL = 1e-12  # a difference of 1e-17 around zero is not a relative one
FLOATING = ("DOUBLE", "FLOAT", "REAL", "DECIMAL")


def q(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql("duckdb")


def files_sql(files: list[str]) -> str:
    """read_parquet over the files, as SQL (a view cannot take a prepared parameter)."""
    listed = exp.Array(expressions=[exp.Literal.string(f) for f in files]).sql("duckdb")
    return f"read_parquet({listed}, union_by_name = true)"


def mismatches(con: duckdb.DuckDBPyConnection, duck: str, spark_files: list[str], key: list[str]) -> list[str]:
    """What differs between the DuckDB table and the Parquet files Spark wrote (empty when they are equal)."""
    spark = files_sql(spark_files)
    columns = con.execute(f"select column_name, column_type from (describe {duck})").fetchall()
    spark_columns = {r[0] for r in con.execute(f"describe select * from {spark}").fetchall()}
    missing = [c for c, _ in columns if c not in spark_columns]
    if missing:
        return [f"columns missing on Spark: {missing}"]
    exact = [c for c, kind in columns if not kind.startswith(FLOATING)]
    floats = [c for c, kind in columns if kind.startswith(FLOATING)]
    types = dict(columns)

    def normal(column: str) -> str:
        kind = types[column]
        if kind.startswith(FLOATING):
            return f"{q(column)}::double as {q(column)}"
        if kind in ("HUGEINT", "BIGINT", "INTEGER", "SMALLINT", "TINYINT", "UBIGINT", "UINTEGER"):
            return f"{q(column)}::hugeint as {q(column)}"
        if kind.startswith("TIMESTAMP"):
            return f"{q(column)}::timestamp as {q(column)}"
        return f"{q(column)}::{kind} as {q(column)}"

    select = ", ".join(normal(c) for c, _ in columns)
    con.execute(f"create or replace temp table _d as select {select} from {duck}")
    con.execute(f"create or replace temp table _s as select {select} from {spark}")
    problems = []
    counts = con.execute("select (select count(*) from _d), (select count(*) from _s)").fetchall()[0]
    if counts[0] != counts[1]:
        problems.append(f"rows: DuckDB {counts[0]}, Spark {counts[1]}")
    listed_exact = ", ".join(q(c) for c in exact) or "1"
    for a, b in (("_d", "_s"), ("_s", "_d")):
        extra = con.execute(
            f"select count(*) from (select {listed_exact} from {a} except all select {listed_exact} from {b})"
        ).fetchall()[0][0]
        if extra:
            problems.append(f"{extra} rows of {'DuckDB' if a == '_d' else 'Spark'} have no equal in the other")
    if not floats or problems:
        return problems
    key = key or exact
    unique = con.execute(f"select count(*) = count(distinct ({', '.join(q(c) for c in key)})) from _d").fetchall()[0][0]
    if not unique:
        for column in floats:
            sums = con.execute(
                f"select (select sum({q(column)}) from _d), (select sum({q(column)}) from _s)"
            ).fetchall()[0]
            if not _close(*sums):
                problems.append(f"{column}: sums {sums[0]} and {sums[1]}")
        return problems
    on = " and ".join(f"d.{q(c)} is not distinct from s.{q(c)}" for c in key)
    for column in floats:
        d, s = f"d.{q(column)}", f"s.{q(column)}"
        differ = con.execute(
            f"select count(*), any_value({d}), any_value({s}) from _d as d join _s as s on {on} "
            f"where ({d} is null) <> ({s} is null) "
            f"or abs({d} - {s}) > {REL_TOL} * greatest(abs({d}), abs({s})) + {ABS_TOL}"
        ).fetchall()[0]
        if differ[0]:
            problems.append(f"{column}: {differ[0]} values differ (e.g. {differ[1]} against {differ[2]})")
    return problems


def _close(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= REL_TOL * max(abs(a), abs(b)) + ABS_TOL
