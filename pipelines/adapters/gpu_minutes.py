"""Readings of GPUs (one row per GPU and reading time, a column per field) folded into the contract's GPU-minutes,
and the inventory they imply. Shared by the dcgm-exporter and nvidia-smi adapters.

Within a minute: means for activity, clocks and power, the maximum for temperature and memory used, the union of
throttle reasons, the last XID, and ECC counters (totals since boot) turned into errors per minute; a counter that
went down was reset, so its new value counts; a GPU's first reading has no errors to report yet. A field the source
does not report stays null (dcgm-exporter's default counters have no ECC totals or throttle reasons)."""

from __future__ import annotations

import polars as pl

from pipelines.adapters.base import memory_of, sku_of, tdp_of

FIELDS = (
    "gpu_util_pct",
    "sm_active_pct",
    "tensor_active_pct",
    "dram_active_pct",
    "mem_used_mib",
    "mem_total_mib",
    "power_w",
    "power_limit_w",
    "temp_c",
    "sm_clock_mhz",
    "xid",
    "throttle_reasons",
    "ecc_corrected_total",
    "ecc_uncorrected_total",
)
KEYS = ["node_id", "gpu"]  # gpu: the index on its node, as text


def complete(readings: pl.DataFrame) -> pl.DataFrame:
    """Every field present (null where the source has none), numeric."""
    missing = [pl.lit(None, pl.Float64).alias(f) for f in FIELDS if f not in readings.columns]
    return readings.with_columns(missing).with_columns(pl.col(f).cast(pl.Float64) for f in FIELDS)


def minutes(readings: pl.DataFrame) -> pl.DataFrame:
    readings = complete(readings).sort([*KEYS, "at"])

    def per_minute_errors(total: str) -> pl.Expr:
        step = pl.col(total) - pl.col(total).shift(1).over(KEYS)
        first = pl.col(total).is_not_null() & pl.col(total).shift(1).over(KEYS).is_null()
        return pl.when(step < 0).then(pl.col(total)).when(first).then(0).otherwise(step)

    readings = readings.with_columns(
        per_minute_errors("ecc_corrected_total").alias("ecc_c"),
        per_minute_errors("ecc_uncorrected_total").alias("ecc_u"),
        pl.col("at").dt.truncate("1m").alias("ts"),
    )
    folded = readings.group_by([*KEYS, "ts"]).agg(
        pl.col("gpu_util_pct").mean(),
        pl.col("sm_active_pct").mean(),
        pl.col("tensor_active_pct").mean(),
        pl.col("dram_active_pct").mean(),
        pl.col("mem_used_mib").max().round().cast(pl.Int64),
        pl.col("power_w").mean(),
        pl.col("temp_c").max(),
        pl.col("sm_clock_mhz").mean(),
        _sum_or_null("ecc_c").alias("ecc_corrected_count"),
        _sum_or_null("ecc_u").alias("ecc_uncorrected_count"),
        pl.col("xid").filter(pl.col("xid") > 0).last().cast(pl.Int32).alias("xid"),
        pl.col("throttle_reasons").cast(pl.Int64).bitwise_or().alias("throttle_reasons"),
    )
    return folded.with_columns(gpu_id()).drop("gpu").sort("ts", "gpu_id")


def _sum_or_null(column: str) -> pl.Expr:
    return pl.when(pl.col(column).is_not_null().any()).then(pl.col(column).sum().cast(pl.Int64))


def gpu_id() -> pl.Expr:
    return pl.concat_str(pl.col("node_id"), pl.lit("-g"), pl.col("gpu")).alias("gpu_id")


def inventory(readings: pl.DataFrame, region: str) -> pl.DataFrame:
    """One row per GPU per day it was read: its UUID, model (as a SKU), framebuffer and rated power; what the
    readings do not say comes from skus.yml or the vendors' data sheets."""
    readings = complete(readings)
    day = pl.col("at").dt.date().alias("snapshot_date")
    found = readings.group_by([*KEYS, day]).agg(
        pl.col("uuid").drop_nulls().last(),
        pl.col("model").drop_nulls().last(),
        pl.col("mem_total_mib").max(),
        pl.col("power_limit_w").max(),
    )
    found = found.with_columns(pl.col("model").map_elements(sku_of, return_dtype=pl.String).alias("sku"))
    return found.select(
        gpu_id(),
        "snapshot_date",
        pl.col("uuid").alias("gpu_uuid"),
        pl.col("gpu").cast(pl.Int32, strict=False).alias("gpu_index"),
        "node_id",
        pl.lit(None, pl.String).alias("rack_id"),
        pl.lit(region).alias("region"),
        "sku",
        pl.coalesce(
            pl.col("mem_total_mib").round().cast(pl.Int64), pl.col("sku").map_elements(memory_of, return_dtype=pl.Int64)
        ).alias("gpu_mem_mib"),
        pl.coalesce("power_limit_w", pl.col("sku").map_elements(tdp_of, return_dtype=pl.Float64)).alias("tdp_w"),
    )
