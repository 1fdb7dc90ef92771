"""The two windows `explain` compares, read from the 5-minute goodput mart as summed GPU-minutes per slice, with
sqlglot-built filters and bound parameters."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import polars as pl
import sqlglot
from sqlglot import exp

from pipelines.explain.decompose import DIMENSIONS, MEASURES, ExplainError

MART = "marts.fct_goodput__5min"
DEFAULT_CURRENT = timedelta(hours=24)
DEFAULT_BASELINE = timedelta(days=7)
BUCKET = timedelta(minutes=5)


def data_span(con: duckdb.DuckDBPyConnection) -> tuple[datetime, datetime]:
    start, end = con.execute(f"select min(bucket_at), max(bucket_at) + interval 5 minute from {MART}").fetchall()[0]
    if start is None:
        raise ExplainError(f"{MART} is empty: build the warehouse first")
    return start, end


BASELINES = ("week", "yesterday", "before")
DAY = timedelta(days=1)


def resolve(
    con: duckdb.DuckDBPyConnection,
    start: datetime | None,
    end: datetime | None,
    baseline_start: datetime | None,
    baseline_end: datetime | None,
    baseline: str = "week",
) -> tuple[tuple[datetime, datetime], tuple[datetime, datetime]]:
    """Defaults: the current window is the last 24 h of data (the later half when there are less than two days);
    the baseline (`baseline`) the 7 days before it, or what exists of them (`week`), the same hours a day earlier
    (`yesterday`) or as many hours just before (`before`), as on-call asks after a page. An explicit baseline
    start or end wins."""
    if baseline not in BASELINES:
        raise ExplainError(f"unknown baseline {baseline!r} (valid: {', '.join(BASELINES)})")
    first, last = data_span(con)
    end = end or last
    if start is None and end - first < 2 * BUCKET:
        raise ExplainError(
            f"the data holds one 5-minute bucket ({first} to {last}): explain compares two windows of it, "
            "so it needs ten minutes of data or more"
        )
    if start is None:  # on a bucket's edge, so that each window holds whole buckets
        start = end - DEFAULT_CURRENT if end - first >= 2 * DEFAULT_CURRENT else first + (end - first) // 2
        start = first + ((start - first) // BUCKET) * BUCKET
    length = end - start
    if baseline == "yesterday":
        baseline_start, baseline_end = baseline_start or start - DAY, baseline_end or end - DAY
    elif baseline == "before":
        baseline_start, baseline_end = baseline_start or start - length, baseline_end or start
    baseline_end = baseline_end or start
    baseline_start = baseline_start or max(first, baseline_end - DEFAULT_BASELINE)
    for name, (a, b) in (("current", (start, end)), ("baseline", (baseline_start, baseline_end))):
        if a >= b:
            raise ExplainError(f"the {name} window is empty ({a} to {b}); the data spans {first} to {last}")
        if b <= first or a >= last:  # e.g. `yesterday` on the data's first day: nothing to compare with
            other = "; try --baseline before" if name == "baseline" and baseline != "before" else ""
            raise ExplainError(f"the {name} window ({a} to {b}) is outside the data ({first} to {last}){other}")
    return (start, end), (baseline_start, baseline_end)


def check_where(where: dict[str, list[str]]) -> None:
    unknown = sorted(set(where) - set(DIMENSIONS))
    if unknown:
        raise ExplainError(f"unknown dimension {', '.join(unknown)} in --where (valid: {', '.join(DIMENSIONS)})")


def read_window(con, window: tuple[datetime, datetime], where: dict[str, list[str]]) -> pl.DataFrame:
    """Summed GPU-minutes per slice of one window; `where` keeps only the slices whose dimension takes one of the
    listed values (several nodes of an incident, say)."""
    check_where(where)
    condition = exp.and_(
        exp.column("bucket_at") >= exp.Placeholder(),
        exp.column("bucket_at") < exp.Placeholder(),
        *[exp.column(name).isin(*[exp.Placeholder() for _ in values]) for name, values in where.items()],
    )
    query = (
        sqlglot.select(*DIMENSIONS, *[exp.Sum(this=exp.column(m)).as_(m) for m in MEASURES])
        .from_(MART)
        .where(condition)
        .group_by(*DIMENSIONS)
    )
    params = [window[0], window[1], *[value for values in where.values() for value in values]]
    return con.sql(query.sql("duckdb"), params=params).pl()
