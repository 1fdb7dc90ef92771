"""Each data-quality suite as a Dagster asset check on its table: it runs the suite on the newest partition,
stores the results and fails (as a warning: bad rows are already quarantined, this is about trends) when an
expectation does not hold."""

from __future__ import annotations

from datetime import datetime

from dagster import AssetCheckResult, AssetChecksDefinition, AssetCheckSeverity, AssetKey, MetadataValue, asset_check

from pipelines.quality.gaming import no_gaming
from pipelines.quality.keys import KEY_CHECKS
from pipelines.quality.suites import load_suites, run_suite, store
from pipelines.resources import Warehouse


def suite_check(table: str) -> AssetChecksDefinition:
    # the tables its value sets come from must be loaded first (referential integrity)
    sources = {
        item["value_set_from"].rpartition(".")[0]
        for item in load_suites()[table].expectations
        if "value_set_from" in item
    } - {table}

    @asset_check(
        asset=AssetKey(table.split(".")),
        additional_deps=[AssetKey(source.split(".")) for source in sorted(sources)],
        name="expectations",
        description=f"Great Expectations suite of {table} (models/_expectations.yml) on its newest partition.",
    )
    def _check(warehouse: Warehouse) -> AssetCheckResult:
        with warehouse.connect() as con:
            rows = run_suite(con, load_suites()[table], datetime.now().replace(microsecond=0))
            store(con, rows)
        failed = [r for r in rows if r["success"] is False]
        return AssetCheckResult(
            passed=not failed,
            severity=AssetCheckSeverity.WARN,
            metadata={
                "expectations": len(rows),
                "connected": all(r["success"] is not None for r in rows),
                "failed": MetadataValue.json(
                    [{k: r[k] for k in ("expectation", "column_name", "unexpected_count", "error")} for r in failed]
                ),
            },
        )

    return _check


SUITE_CHECKS = [suite_check(table) for table in load_suites()]
QUALITY_CHECKS = [*SUITE_CHECKS, *KEY_CHECKS, no_gaming]
