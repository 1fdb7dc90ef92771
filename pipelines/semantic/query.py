"""Running metric queries: the Python API notebooks use (a Polars DataFrame) and what `goodput query` prints."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl

from pipelines.semantic.catalog import Metric, load_catalog
from pipelines.semantic.compiler import BUCKET, MetricQuery, compile_query
from pipelines.warehouse.connection import connect


def query(
    metrics: list[str] | str,
    by: list[str] | None = None,
    grain: str = "day",
    start: datetime | None = None,
    end: datetime | None = None,
    where: dict[str, str] | None = None,
    db: str | Path | duckdb.DuckDBPyConnection = "data/goodput.duckdb",
    catalog: dict[str, Metric] | None = None,
    engine: str = "duckdb",
    warehouse: str | Path | None = None,
    master: str = "local[2]",
) -> pl.DataFrame:
    """One row per time bucket and slice, one column per metric (named as the metric). With engine="spark", the
    same SQL transpiled, on the Spark warehouse folder `warehouse`."""
    request = MetricQuery(
        [metrics] if isinstance(metrics, str) else list(metrics), list(by or []), grain, start, end, dict(where or {})
    )
    compiled = compile_query(request, catalog or load_catalog())
    if engine == "spark":
        frames = _on_spark(compiled, warehouse, master)
    elif engine != "duckdb":
        raise ValueError(f"engine {engine!r}: expected duckdb or spark")
    else:
        con = db if isinstance(db, duckdb.DuckDBPyConnection) else connect(db, read_only=True)  # no progress bar
        try:
            frames = [con.sql(c.sql, params=c.params or None).pl() for c in compiled]
        finally:
            if con is not db:
                con.close()
    keys = [BUCKET, *request.by]
    result = frames[0]
    for frame in frames[1:]:
        result = result.join(frame, on=keys, how="full", coalesce=True)
    return result.sort(keys).select([*keys, *request.metrics])


def _on_spark(compiled: list, warehouse: str | Path | None, master: str) -> list[pl.DataFrame]:
    from pipelines.spark.build import open_folder
    from pipelines.spark.dialect import to_spark

    if warehouse is None:
        raise ValueError("engine='spark' needs warehouse= (the folder `goodput build --engine spark` wrote)")
    spark = open_folder(warehouse, master)
    frames = []
    for c in compiled:
        sql, args = to_spark(c.sql, c.params)
        frames.append(pl.from_arrow(spark.sql(sql, args or None).toArrow()))
    return frames
