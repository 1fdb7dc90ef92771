"""What every report reads first: the span of the data, a window inside it, and a query as a Polars frame."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb

from pipelines.warehouse.connection import fetch as frame  # noqa: F401  (the reports' one reader)


@dataclass(frozen=True)
class Window:
    """A half-open time range [start, end) a report shows."""

    start: datetime
    end: datetime
    region: str | None = None  # where the window's trouble is, when a report found it

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600


def data_span(con: duckdb.DuckDBPyConnection) -> Window | None:
    """First and last 5-minute bucket of the north star (end exclusive); None for an empty warehouse."""
    try:
        rows = con.execute("select min(bucket_at), max(bucket_at) from marts.fct_goodput__5min").fetchall()
    except duckdb.CatalogException:
        return None
    start, last = rows[0]
    if start is None:
        return None
    return Window(start, last + timedelta(minutes=5))


def window_or_default(
    con: duckdb.DuckDBPyConnection, start: datetime | None, end: datetime | None, default_hours: float | None
) -> Window:
    """The window asked for, clipped to the data; missing ends default to the data's end and `default_hours` back
    from it (None: from the data's start)."""
    span = data_span(con)
    if span is None:
        raise ValueError("the warehouse has no north-star data yet (run `goodput build` first)")
    end = min(end or span.end, span.end)
    if start is None:
        start = span.start if default_hours is None else max(span.start, end - timedelta(hours=default_hours))
    start = max(start, span.start)
    if start >= end:
        raise ValueError(f"the window {start} to {end} holds no data (the data runs {span.start} to {span.end})")
    return Window(start, end)
