"""A DuckDB query as Spark SQL: transpiled by sqlglot, with DuckDB's meaning kept where the two engines differ.

- Division: DuckDB's `/` on decimals gives a DOUBLE; Spark's keeps a DECIMAL(38, 6), which cuts a ratio's digits
  (availability and allocation came out up to 8e-6 apart). Both sides are cast to DOUBLE, which is what DuckDB does.
- arg_max and arg_min: DuckDB's skip the rows whose value is null (a job's last attempt still running gives the
  state of the one before); Spark's max_by and min_by return that null. The rows are filtered as DuckDB does.
- Parameters: times are bound as typed literals (Spark's named arguments would turn a naive datetime into the JVM's
  local time); anything else (a user's filter value) goes to Spark as a named argument, never into the text.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import cache

import sqlglot
from sqlglot import exp

DOUBLE = exp.DataType.build("double")


def to_spark(sql: str, params: dict[str, object] | None = None) -> tuple[str, dict[str, object]]:
    """The query in Spark's dialect and the named arguments it takes."""
    params = params or {}
    args: dict[str, object] = {}

    def rewrite(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Placeholder) and node.name in params:
            value = params[node.name]
            if isinstance(value, datetime):
                return exp.cast(exp.Literal.string(value.isoformat(sep=" ")), "timestamp")
            if isinstance(value, date):
                return exp.cast(exp.Literal.string(value.isoformat()), "date")
            args[node.name] = value
            return node
        if isinstance(node, exp.Div):
            return exp.Div(this=_as_double(node.this), expression=_as_double(node.expression))
        if isinstance(node, exp.Filter) and isinstance(node.this, (exp.ArgMax, exp.ArgMin)):
            condition = exp.and_(node.expression.this, _present(node.this))
            return exp.Filter(this=node.this, expression=exp.Where(this=condition))
        if isinstance(node, (exp.ArgMax, exp.ArgMin)) and not isinstance(node.parent, exp.Filter):
            return exp.Filter(this=node.copy(), expression=exp.Where(this=_present(node)))
        return node

    tree = _parsed(sql).transform(rewrite)
    return tree.sql("spark", unsupported_level=sqlglot.ErrorLevel.RAISE), args


def _present(node: exp.Expression) -> exp.Expression:
    return exp.Not(this=exp.Is(this=node.this.copy(), expression=exp.Null()))


def _as_double(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Cast) and node.to.this == exp.DataType.Type.DOUBLE:
        return node
    return exp.Cast(this=node, to=DOUBLE.copy())


@cache
def _parsed(sql: str) -> exp.Expression:
    return sqlglot.parse_one(sql, read="duckdb")


def duckdb_only(sql: str) -> list[str]:
    """The constructs of a model that Spark does not run as DuckDB does (a model must not use them: see the
    portability test); each as a short description."""
    found = []
    for node in _parsed(sql).walk():
        if isinstance(node, exp.SimilarTo):
            found.append("SIMILAR TO (use regexp_matches with ^...$)")
        elif isinstance(node, exp.Union) and node.args.get("by_name"):
            found.append("UNION BY NAME (list the same columns in the same order)")
        elif isinstance(node, exp.WindowSpec) and str(node.args.get("kind")).upper() == "RANGE":
            bounds = [node.args.get("start"), node.args.get("end")]
            units = {
                str(i.unit).upper() for b in bounds if isinstance(b, exp.Expression) for i in b.find_all(exp.Interval)
            }
            if len(units) > 1:  # Spark: SPECIFIED_WINDOW_FRAME_DIFF_TYPES
                found.append("a RANGE frame bounded by intervals of two units (join the span's rows and aggregate)")
        elif isinstance(node, exp.Window) and isinstance(node.this, (exp.Median, exp.PercentileCont)):
            if str((node.args.get("spec") or exp.WindowSpec()).args.get("kind")).upper() == "RANGE":
                found.append("a median over a RANGE frame")
    return found
