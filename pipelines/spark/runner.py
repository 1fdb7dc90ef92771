"""Running a model on Spark, as `pipelines.modeling.runner` runs it on DuckDB: the same file, transpiled.

A full run writes the whole table; a windowed run (a tick) recomputes only the window of a model incremental by
time and rewrites the days the window touches (their rows outside the window are kept as they were). Keyed models
and the rest are rewritten whole, which gives a full rebuild's rows by construction. Work lost after a checkpoint is
restated over the whole span back to `lost_from` (DuckDB narrows that to the failed jobs: the same rows).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlglot import exp

from pipelines.modeling.project import Model
from pipelines.modeling.runner import FULL_WINDOW, aligned
from pipelines.spark.dialect import to_spark
from pipelines.spark.folder import DAY_COLUMN, SparkFolder, days, replace_days, replace_folder

DAY = timedelta(days=1)


def register_table(spark, folder: SparkFolder, name: str) -> None:
    """The table's folder as a table of the session's catalogue (again after a rewrite: Spark caches listings)."""
    schema = name.split(".")[0]
    target = exp.to_table(name).sql("spark")
    spark.sql(f"create database if not exists {exp.to_identifier(schema).sql('spark')}")
    _drop(spark, name)
    location = exp.Literal.string(str(folder.table(name))).sql("spark")
    spark.sql(f"create table {target} using parquet options (recursiveFileLookup 'true') location {location}")


def register_view(spark, model: Model) -> None:
    sql, args = to_spark(model.sql)
    spark.sql(f"create database if not exists {exp.to_identifier(model.layer).sql('spark')}")
    _drop(spark, model.table)
    spark.sql(f"create or replace view {exp.to_table(model.table).sql('spark')} as {sql}", args or None)


def _drop(spark, name: str) -> None:
    """Forget a table or view of the catalogue, whichever it is (a model may have changed from one to the other)."""
    if spark.catalog.tableExists(name):
        kind = "view" if spark.catalog.getTable(name).tableType == "VIEW" else "table"
        spark.sql(f"drop {kind} {exp.to_table(name).sql('spark')}")


def run_model(
    spark,
    folder: SparkFolder,
    model: Model,
    window: tuple[datetime, datetime] | None = None,
    lost_from: datetime | None = None,
) -> None:
    """Materialise the model in the folder; with a window, only that range of a model incremental by time."""
    if model.materialized == "view":
        register_view(spark, model)
        return
    by_time = bool(model.incremental) and "time_column" in model.incremental
    if window is not None and lost_from is not None and lost_from < window[0]:
        if model.lost_work or model.reads_lost_work:
            window = (lost_from, window[1])
    if window is not None and by_time:
        window = aligned(window, model.incremental.get("align"))
    target = folder.table(model.table)
    if window is None or not by_time or not target.exists():
        _write_whole(spark, folder, model, by_time)
    else:
        _write_window(spark, folder, model, window)
    register_table(spark, folder, model.table)


def _frame(spark, model: Model, window: tuple[datetime, datetime]):
    params = dict(zip(("window_start", "window_end"), window, strict=True))
    sql, args = to_spark(model.sql, {k: v for k, v in params.items() if k in model.params})
    return zoneless(spark.sql(sql, args or None))


def zoneless(frame):
    """Zoned timestamps (what Spark's date_trunc returns) as the wall clock without a zone, DuckDB's TIMESTAMP: a
    reader of the Parquet then sees the type the DuckDB engine's table has."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import TimestampType

    zoned = {f.name for f in frame.schema.fields if isinstance(f.dataType, TimestampType)}
    if not zoned:
        return frame
    return frame.select(*[F.col(c).cast("timestamp_ntz").alias(c) if c in zoned else F.col(c) for c in frame.columns])


def _write_whole(spark, folder: SparkFolder, model: Model, by_time: bool) -> None:
    staged = folder.new_staging()
    frame = _frame(spark, model, FULL_WINDOW)
    if by_time:
        _write_by_day(frame, model, staged)
    else:
        frame.write.parquet(str(staged))
    replace_folder(folder.table(model.table), staged)


def _write_window(spark, folder: SparkFolder, model: Model, window: tuple[datetime, datetime]) -> None:
    """The window's rows computed again and, of the days it touches, the rows outside it kept: those days'
    folders replaced, no other day read or written."""
    from pyspark.sql import functions as F

    target = folder.table(model.table)
    start, end = window
    computed = frame = _frame(spark, model, window)
    earliest = start
    if model.moves:  # the keys' earlier rows lie at or after their `since`: those days are touched too
        computed = frame = frame.cache()  # read twice: its earliest `since`, then written
        since = frame.agg(F.min(F.col(model.moves["since"]))).collect()[0][0]
        earliest = min(start, since) if since is not None else start
    touched = [d for d in days(target) if _day_start(d) < end and _day_start(d) + DAY > earliest]
    if touched:
        time = F.col(model.incremental["time_column"])
        outside = time.isNull() | (time < _timestamp(start)) | (time >= _timestamp(end))
        kept = spark.read.parquet(*[str(target / f"{DAY_COLUMN}={d}") for d in touched]).where(outside)
        if model.moves:
            kept = kept.join(frame.select(*model.moves["key"]), on=list(model.moves["key"]), how="left_anti")
        frame = frame.unionByName(kept)
    staged = folder.new_staging()
    _write_by_day(frame, model, staged)
    computed.unpersist()
    replace_days(target, staged, set(touched))


def _write_by_day(frame, model: Model, staged) -> None:
    """One folder per day of the time column; a table without rows keeps one empty file (its schema)."""
    from pyspark.sql import functions as F

    day = F.date_format(F.col(model.incremental["time_column"]), "yyyyMMdd")
    frame.withColumn(DAY_COLUMN, day).write.partitionBy(DAY_COLUMN).parquet(str(staged))
    if not any(staged.rglob("*.parquet")):
        frame.limit(0).coalesce(1).write.mode("overwrite").parquet(str(staged))


def _timestamp(moment: datetime):
    """A naive UTC time as Spark's zoneless timestamp (a Python datetime would pass through the JVM's zone)."""
    from pyspark.sql import functions as F

    return F.lit(moment.isoformat(sep=" ")).cast("timestamp_ntz")


def _day_start(day: str) -> datetime:
    return datetime.strptime(day, "%Y%m%d")
