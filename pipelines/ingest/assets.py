"""One Dagster asset per source: `raw/<source>`, loaded incrementally, with a reconciliation check."""

from __future__ import annotations

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    AssetsDefinition,
    MaterializeResult,
    MetadataValue,
    asset,
)

from pipelines.contracts import SOURCES, Source
from pipelines.ingest.load import load_source, reconciliation
from pipelines.resources import Warehouse

RECONCILES = "reconciles"


def raw_asset(source: Source) -> AssetsDefinition:
    deps = [AssetKey(["raw", ref.source]) for ref in source.references]

    @asset(
        key=AssetKey(["raw", source.name]),
        deps=deps,
        group_name="raw",
        kinds={"duckdb"},
        description=f"raw.{source.name}: {source.grain}, as landed, contract-checked (bad rows in raw._quarantine).",
        check_specs=[
            AssetCheckSpec(
                RECONCILES,
                asset=AssetKey(["raw", source.name]),
                description="landed rows = accepted + quarantined; no unreadable files",
            )
        ],
    )
    def _raw(warehouse: Warehouse) -> MaterializeResult:
        with warehouse.connect() as con:
            report = load_source(con, source, warehouse.landing)
            totals = reconciliation(con, source)
        balanced = totals["landed"] == totals["accepted"] + totals["quarantined"]
        return MaterializeResult(
            metadata={
                "new_files": len(report.results),
                "skipped_files": report.files_skipped,
                "landed_rows": report.landed,
                "accepted_rows": report.accepted,
                "quarantined_rows": report.quarantined,
                "unreadable_files": MetadataValue.json([{"file": r.file, "error": r.error} for r in report.unreadable]),
                "total_rows": totals["accepted"],
            },
            check_results=[
                AssetCheckResult(
                    check_name=RECONCILES,
                    passed=balanced and not totals["unreadable_files"],
                    severity=AssetCheckSeverity.ERROR if not balanced else AssetCheckSeverity.WARN,
                    metadata={k: int(v) for k, v in totals.items()},
                )
            ],
        )

    return _raw


RAW_ASSETS = [raw_asset(source) for source in SOURCES.values()]
