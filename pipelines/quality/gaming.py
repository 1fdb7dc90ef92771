"""Anti-gaming as an asset check on the flagged-jobs mart: it warns with the teams whose jobs keep GPUs busy
without training progress (or report progress without GPU work), so the finding shows next to the data in the
Dagster UI. The flags themselves are SQL (models/marts/fct_jobs__gaming_flags.sql), so a query reads the same."""

from __future__ import annotations

from dagster import AssetCheckResult, AssetCheckSeverity, AssetKey, MetadataValue, asset_check

from pipelines.resources import Warehouse

FLAGS = AssetKey(["marts", "fct_jobs__gaming_flags"])
FLAGGED_TEAMS_SQL = """
select team, count(*) as attempts, round(sum(gpu_minutes) / 60.0, 1) as gpu_hours,
    count(*) filter (where is_busy_loop) as busy_loop,
    count(*) filter (where is_busy_without_progress) as busy_without_progress,
    count(*) filter (where is_progress_without_work) as progress_without_work
from marts.fct_jobs__gaming_flags
where is_flagged and last_minute_at >= (select max(last_minute_at) from marts.fct_jobs__gaming_flags) - interval 1 day
group by team order by gpu_hours desc
"""


def flagged_teams(con) -> list[dict]:
    """Teams with flagged attempts in the last day of data, worst first."""
    cursor = con.execute(FLAGGED_TEAMS_SQL)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@asset_check(asset=FLAGS, description="No team's jobs were flagged for gaming utilisation in the last day.")
def no_gaming(warehouse: Warehouse) -> AssetCheckResult:
    with warehouse.connect() as con:
        teams = flagged_teams(con)
    return AssetCheckResult(
        passed=not teams,
        severity=AssetCheckSeverity.WARN,
        metadata={"flagged_teams": MetadataValue.json(teams), "teams": len(teams)},
    )
