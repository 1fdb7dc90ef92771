"""Reports as a Dagster asset on an hourly schedule, and the check that warns while jobs have no class."""

from __future__ import annotations

from pathlib import Path

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetKey,
    AssetSelection,
    DefaultScheduleStatus,
    MaterializeResult,
    MetadataValue,
    ScheduleDefinition,
    asset,
    asset_check,
    define_asset_job,
)

from pipelines.reports.run import write_all
from pipelines.resources import Warehouse

READS = (
    "marts.fct_cost__chargeback_daily",
    "marts.fct_goodput__5min",
    "marts.fct_jobs__queue_waits",
    "marts.fct_pipelines__deadlines",
    "marts.fct_health__node_minutes",
    "marts.fct_training__worker_minutes",
    "marts.fct_jobs__attempt_outcomes",
    "marts.fct_jobs__unclassified",
    "marts.fct_teams__gaming_daily",
    "marts.dim_jobs",
    "intermediate.int_jobs__activity_hours",
    "alerts.alerts",
)


@asset(
    key=AssetKey(["reports", "pages"]),
    deps=[AssetKey(name.split(".")) for name in READS],
    group_name="reports",
    kinds={"html", "plotly"},
    description="The finance, cluster-health, war-room and progress pages and their index (self-contained HTML).",
)
def report_pages(warehouse: Warehouse) -> MaterializeResult:
    with warehouse.read() as con:
        written = write_all(con, Path(warehouse.reports_dir))
    return MaterializeResult(
        metadata={
            "index": MetadataValue.path(str(Path(warehouse.reports_dir) / "index.html")),
            **{f"{w.name}_render_s": round(w.render_s, 2) for w in written},
        }
    )


@asset_check(
    asset=AssetKey(["marts", "fct_jobs__unclassified"]),
    name="no_unclassified_jobs",
    description="Warns while jobs reach the scheduler with no metadata, so no team or workload class.",
)
def no_unclassified_jobs(warehouse: Warehouse) -> AssetCheckResult:
    with warehouse.connect() as con:
        rows = con.execute(
            "select count(*), list(job_id order by first_seen_at desc)[1:10] from marts.fct_jobs__unclassified"
        ).fetchall()
    count, sample = rows[0]
    return AssetCheckResult(
        passed=count == 0,
        severity=AssetCheckSeverity.WARN,
        metadata={"unclassified_jobs": count, "newest": MetadataValue.json(sample or [])},
    )


reports_job = define_asset_job("reports", selection=AssetSelection.keys(report_pages.key))
hourly_reports = ScheduleDefinition(
    name="hourly_reports",
    job=reports_job,
    cron_schedule="7 * * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.STOPPED,
)
REPORT_ASSETS = [report_pages]
REPORT_CHECKS = [no_unclassified_jobs]
