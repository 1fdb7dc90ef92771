"""The one Dagster code location: every asset, check and resource of goodput."""

from dagster import Definitions

from pipelines.detect.assets import DETECTION_ASSETS
from pipelines.ingest.assets import RAW_ASSETS
from pipelines.modeling.assets import MODEL_ASSETS
from pipelines.orchestration.tick import every_five_minutes, new_landing_files, tick_job
from pipelines.quality.checks import QUALITY_CHECKS
from pipelines.reports.assets import REPORT_ASSETS, REPORT_CHECKS, hourly_reports, reports_job
from pipelines.resources import Warehouse
from pipelines.warehouse.assets import PUBLISH_ASSETS

defs = Definitions(
    assets=[*RAW_ASSETS, *MODEL_ASSETS, *DETECTION_ASSETS, *PUBLISH_ASSETS, *REPORT_ASSETS],
    asset_checks=[*QUALITY_CHECKS, *REPORT_CHECKS],
    jobs=[tick_job, reports_job],
    schedules=[every_five_minutes, hourly_reports],
    sensors=[new_landing_files],
    resources={"warehouse": Warehouse()},
)
