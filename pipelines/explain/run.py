"""`explain` on a warehouse file: the Python API (for notebooks) behind `goodput explain`."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb

from pipelines.explain.decompose import DIMENSIONS, explain
from pipelines.explain.windows import check_where, read_window, resolve
from pipelines.warehouse.connection import connect


def explain_db(
    db: str | Path,
    start: datetime | None = None,
    end: datetime | None = None,
    baseline_start: datetime | None = None,
    baseline_end: datetime | None = None,
    where: dict[str, list[str]] | None = None,
    baseline: str = "week",
) -> dict:
    """The explain tree for two windows of the warehouse (defaults: the last 24 h against the 7 days before)."""
    where = where or {}
    if not Path(db).exists():
        raise FileNotFoundError(f"{db}: no such warehouse (build one with goodput build or goodput run)")
    check_where(where)
    with connect(db, read_only=True) as con:
        return explain_con(con, start, end, baseline_start, baseline_end, where, baseline)


def explain_con(
    con: duckdb.DuckDBPyConnection,
    start: datetime | None = None,
    end: datetime | None = None,
    baseline_start: datetime | None = None,
    baseline_end: datetime | None = None,
    where: dict[str, list[str]] | None = None,
    baseline: str = "week",
) -> dict:
    """The same tree on an open connection (the war-room report explains its incident window this way)."""
    where = where or {}
    current, baseline = resolve(con, start, end, baseline_start, baseline_end, baseline)
    # a dimension the filter pins to one value has one slice, which is all of it: not worth naming
    dimensions = tuple(d for d in DIMENSIONS if len(where.get(d, [])) != 1)
    tree = explain(read_window(con, baseline, where), read_window(con, current, where), dimensions)
    windows = {"current": [current[0].isoformat(), current[1].isoformat()]}
    windows["baseline"] = [baseline[0].isoformat(), baseline[1].isoformat()]
    return {"windows": windows, "where": where, **tree}
