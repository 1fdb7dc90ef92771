"""Publishing as a Dagster asset: a run started from the UI ends with a snapshot for readers, as a build does."""

from __future__ import annotations

from dagster import AssetKey, MaterializeResult, asset

from pipelines.detect.assets import DETECTION_ASSETS
from pipelines.modeling.assets import MODEL_ASSETS
from pipelines.resources import Warehouse
from pipelines.warehouse.layout import Layout
from pipelines.warehouse.publish import publish


@asset(
    key=AssetKey(["warehouse", "snapshot"]),
    deps=[key for a in (*MODEL_ASSETS, *DETECTION_ASSETS) for key in a.keys],
    group_name="warehouse",
    kinds={"duckdb", "parquet"},
    description="The published snapshot readers open at GOODPUT_DB: every table as Parquet parts, views over them.",
)
def published_snapshot(warehouse: Warehouse) -> MaterializeResult:
    with warehouse.connect() as con:
        published = publish(con, Layout.of(warehouse.db_path))  # a UI run may have changed anything: all parts
    return MaterializeResult(
        metadata={
            "generation": published.generation,
            "parts_written": published.parts_written,
            "seconds": round(published.seconds, 2),
        }  # fmt: skip
    )


PUBLISH_ASSETS = [published_snapshot]
