"""Adapter output to landing Parquet, laid out as the simulator lays it out, so `goodput build` loads it the same
way. File names carry the adapter and a digest of the inputs: re-ingesting the same files replaces, never doubles."""

from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from pipelines.adapters.base import Adapted
from pipelines.contracts import SOURCES

QUARANTINE_DIR = "_quarantine"
POLARS_TYPES = {
    "TIMESTAMP": pl.Datetime("us"),
    "DATE": pl.Date,
    "VARCHAR": pl.String,
    "DOUBLE": pl.Float64,
    "BIGINT": pl.Int64,
    "INTEGER": pl.Int32,
    "BOOLEAN": pl.Boolean,
}


def inputs_digest(paths: list[Path]) -> str:
    digest = hashlib.blake2b(digest_size=6)
    for path in sorted(paths):
        stat = path.stat()
        digest.update(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def conform(source: str, frame: pl.DataFrame) -> pl.DataFrame:
    """The contract's columns in its order and types; columns an adapter cannot know are null."""
    contract = SOURCES[source]
    columns = []
    for column in contract.columns:
        dtype = POLARS_TYPES[column.dtype]
        value = pl.col(column.name) if column.name in frame.columns else pl.lit(None)
        columns.append(value.cast(dtype, strict=False).alias(column.name))
    return frame.select(columns)


def write(adapted: Adapted, landing: Path, adapter: str, digest: str) -> dict[str, int]:
    """Rows written per source; quarantined lines go to `_quarantine/` for `goodput build` to load."""
    written = {}
    for source, frame in adapted.tables.items():
        if frame.is_empty():
            continue
        table = conform(source, frame)
        time_column = SOURCES[source].time_column or _date_column(source)
        day = pl.col(time_column).cast(pl.Date).cast(pl.String).fill_null("unknown")
        for (date,), part in table.with_columns(day.alias("_date")).group_by("_date"):
            folder = landing / source / f"date={date}"
            folder.mkdir(parents=True, exist_ok=True)
            # nullable on disk: a missing required value is the build's to quarantine, with its reason
            pq.write_table(part.drop("_date").to_arrow(), folder / f"{adapter}-{digest}.parquet", compression="zstd")
        written[source] = table.height
    folder = landing / QUARANTINE_DIR
    path = folder / f"{adapter}-{digest}.parquet"
    if adapted.quarantined:
        folder.mkdir(parents=True, exist_ok=True)
        adapted.quarantine.with_columns(pl.lit(f"adapter:{adapter}").alias("source")).write_parquet(path)
    elif path.exists():
        path.unlink()
    return written


def _date_column(source: str) -> str:
    return next(c.name for c in SOURCES[source].columns if c.dtype == "DATE")
