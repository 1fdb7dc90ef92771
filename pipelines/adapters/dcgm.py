"""dcgm-exporter scrapes (Prometheus text) to gpu_telemetry and inventory. Ratios (DCGM_FI_PROF_*) become percent;
DCGM's blank sentinels read as null; scrapes fold into GPU-minutes as `gpu_minutes` says."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import polars as pl

from pipelines.adapters import gpu_minutes, prometheus
from pipelines.adapters.base import Adapted, bad_lines, scrape_time

# DCGM field -> (contract column, scale)
GAUGES = {
    "DCGM_FI_DEV_GPU_UTIL": ("gpu_util_pct", 1.0),
    "DCGM_FI_PROF_SM_ACTIVE": ("sm_active_pct", 100.0),
    "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE": ("tensor_active_pct", 100.0),
    "DCGM_FI_PROF_DRAM_ACTIVE": ("dram_active_pct", 100.0),
    "DCGM_FI_DEV_FB_USED": ("mem_used_mib", 1.0),
    "DCGM_FI_DEV_FB_FREE": ("mem_free_mib", 1.0),
    "DCGM_FI_DEV_POWER_USAGE": ("power_w", 1.0),
    "DCGM_FI_DEV_GPU_TEMP": ("temp_c", 1.0),
    "DCGM_FI_DEV_SM_CLOCK": ("sm_clock_mhz", 1.0),
    "DCGM_FI_DEV_XID_ERRORS": ("xid", 1.0),
    "DCGM_FI_DEV_CLOCK_THROTTLE_REASONS": ("throttle_reasons", 1.0),
    "DCGM_FI_DEV_CLOCKS_EVENT_REASONS": ("throttle_reasons", 1.0),
    "DCGM_FI_DEV_POWER_MGMT_LIMIT": ("power_limit_w", 1.0),
    "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL": ("ecc_corrected_total", 1.0),
    "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL": ("ecc_uncorrected_total", 1.0),
}
LABELS = ["gpu", "UUID", "device", "modelName", "Hostname", "hostname", "DCGM_FI_DRIVER_VERSION"]
SUFFIXES = (".prom", ".txt", ".metrics")
OPTIONS = ("at", "region")
SENTINEL_INT32 = (2_147_483_632, 2_147_483_647)  # DCGM_INT32_BLANK and its neighbours: "no data"
SENTINEL_LARGE = 1.40737488355328e14  # DCGM_FP64_BLANK; the INT64 blanks (9.22e18) are above it


def adapt(paths: list[Path], at: datetime | None = None, region: str = "default") -> Adapted:
    result = Adapted()
    samples = []
    for path in paths:
        parsed = prometheus.read_exposition(path)
        one, quarantined, ignored = _samples(path, parsed, at)
        samples.append(one)
        result = result.add(Adapted(quarantine=quarantined, read=parsed.samples.height + parsed.bad.height))
        result.ignored += ignored
        result.files += 1
    if samples:
        readings = _readings(pl.concat(samples, how="vertical_relaxed"))
        result.tables = {
            "gpu_telemetry": gpu_minutes.minutes(readings),
            "inventory": gpu_minutes.inventory(readings, region),
        }
    return result


def _samples(path: Path, parsed: prometheus.Exposition, at: datetime | None) -> tuple[pl.DataFrame, ...]:
    """Mapped samples of one scrape with their GPU identity; the quarantined lines; the count of known DCGM fields
    that no contract column holds."""
    taken = scrape_time(path, at)
    frame = prometheus.with_labels(parsed.samples, LABELS)
    frame = frame.with_columns(
        pl.coalesce("Hostname", "hostname").alias("node_id"),
        pl.coalesce(pl.from_epoch(pl.col("ts_ms"), time_unit="ms").cast(pl.Datetime("us")), pl.lit(taken)).alias("at"),
    )
    # a family exported without labels belongs to the scrape's only GPU; with several GPUs it is ambiguous
    gpus = frame.filter(pl.col("gpu").is_not_null()).select("node_id", "gpu", "UUID", "modelName").unique()
    if gpus.height == 1:
        frame = frame.with_columns(
            pl.when(pl.col("gpu").is_null() & (pl.col("labels") == ""))
            .then(pl.lit(gpus[c][0]))
            .otherwise(pl.col(c))
            .alias(c)
            for c in ("node_id", "gpu", "UUID", "modelName")
        )
    known = pl.col("name").is_in(list(GAUGES))
    reason = (
        pl.when(~pl.col("name").str.starts_with("DCGM_"))
        .then(pl.concat_str(pl.lit("unknown metric "), pl.col("name")))
        .when(known & pl.col("gpu").is_null())
        .then(pl.lit("no gpu label, and the scrape holds several GPUs"))
        .when(known & pl.col("node_id").is_null())
        .then(pl.lit("no Hostname or hostname label"))
    )
    frame = frame.with_columns(reason.alias("reason"))
    rejected = parsed.with_text(frame.filter(pl.col("reason").is_not_null()))
    quarantined = pl.concat(
        [bad_lines(path, parsed.bad, pl.col("reason")), bad_lines(path, rejected, pl.col("reason"))],
        how="vertical_relaxed",
    )
    usable = frame.filter(pl.col("reason").is_null())
    ignored = usable.filter(~known).height
    mapped = usable.filter(known).with_columns(
        pl.col("name").replace_strict({k: v[0] for k, v in GAUGES.items()}, return_dtype=pl.String).alias("field"),
        pl.when(
            pl.col("value").is_between(*SENTINEL_INT32) | (pl.col("value") >= SENTINEL_LARGE) | pl.col("value").is_nan()
        )
        .then(None)
        .otherwise(
            pl.col("value")
            * pl.col("name").replace_strict({k: v[1] for k, v in GAUGES.items()}, return_dtype=pl.Float64)
        )
        .alias("value"),
    )
    keep = ["at", "node_id", "gpu", "UUID", "modelName", "DCGM_FI_DRIVER_VERSION", "field", "value"]
    return mapped.select(keep), quarantined, ignored


def _readings(samples: pl.DataFrame) -> pl.DataFrame:
    """One row per GPU and scrape time, a column per field; framebuffer used + free is its size."""
    ids = samples.group_by("node_id", "gpu").agg(
        pl.col("UUID").drop_nulls().last().alias("uuid"), pl.col("modelName").drop_nulls().last().alias("model")
    )
    wide = samples.pivot(on="field", index=["node_id", "gpu", "at"], values="value", aggregate_function="last")
    wide = gpu_minutes.complete(
        wide.with_columns(pl.lit(None, pl.Float64).alias("mem_free_mib"))
        if "mem_free_mib" not in wide.columns
        else wide
    )
    wide = wide.with_columns((pl.col("mem_used_mib") + pl.col("mem_free_mib")).alias("mem_total_mib"))
    return wide.join(ids, on=["node_id", "gpu"], how="left")
