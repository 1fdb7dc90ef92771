"""Detection as a Dagster asset: the alert log, stragglers and drain list, after the marts it reads."""

from __future__ import annotations

from dagster import AssetKey, MaterializeResult, asset

from pipelines.detect.store import detect
from pipelines.resources import Warehouse

READS = (
    "staging.stg_gpu_telemetry__minutes",
    "staging.stg_runtime__worker_minutes",
    "staging.stg_runtime__step_lines",
    "staging.stg_changes__events",
    "intermediate.int_gpu_minutes__allocation",
    "marts.dim_gpus",
    "marts.fct_health__node_minutes",
    "marts.fct_scheduler__region_minutes",
    "marts.fct_goodput__5min",
    "marts.fct_training__worker_minutes",
)


@asset(
    key=AssetKey(["alerts", "alerts"]),
    deps=[AssetKey(name.split(".")) for name in READS],
    group_name="alerts",
    kinds={"duckdb", "python"},
    description="Alert log (one row per alert, grouped into incidents), stragglers and the GPU drain list.",
)
def alert_log(warehouse: Warehouse) -> MaterializeResult:
    window = warehouse.window
    with warehouse.connect() as con:
        counts = detect(con, until=window[1] if window else None, since=window[0] if window else None)
    return MaterializeResult(metadata=counts)


DETECTION_ASSETS = [alert_log]
