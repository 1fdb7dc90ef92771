"""One detection pass: every detector over a window of the warehouse, episodes to alerts and incidents, the
suspected change attached, the alert log and the drain list written. `goodput build` runs it over all the data (a
causal replay of every 5-minute tick); the Dagster schedule runs it on each tick over a trailing window."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import polars as pl

from pipelines.detect import alerts as alerting
from pipelines.detect.cohorts import RULES as COHORT_RULES
from pipelines.detect.cohorts import cohort_episodes
from pipelines.detect.config import detection_config, health_config
from pipelines.detect.gaming import gaming_episodes
from pipelines.detect.health import health_episodes
from pipelines.detect.rules import RuleSpec
from pipelines.detect.signals import detector_episodes
from pipelines.timing import StepClock
from pipelines.warehouse.connection import fetch

# the rules detection runs itself, beside the health rules and statistical detectors of the YAML files
BUILT_IN: dict[str, RuleSpec] = {
    "scheduler_outage": RuleSpec(
        "critical",
        "page",
        "scheduling",
        "no job started for minutes while {value:.0f} jobs wait",
    ),
    "telemetry_gap": RuleSpec(
        "warning",
        "ticket",
        "telemetry",
        "{value:.0f} of {baseline:.0f} GPUs sent no telemetry",
    ),
    "busy_without_progress": RuleSpec(
        "warning",
        "ticket",
        "gaming",
        "{value:.0f} GPU-minutes in the last hour busy with no tensor work and no training steps",
    ),
    **{rule.name: rule.spec for rule in COHORT_RULES},
}
CHANGE_FAMILIES = {
    "driver_upgrade": "software",
    "kernel_upgrade": "software",
    "framework_image": "software",
    "config_change": "software",
    "firmware_upgrade": "hardware",
    "scheduler_policy": "scheduling",
    "storage_rollout": "data_io",
    "network_change": "network",
}
SUSPECT_WINDOW = timedelta(hours=3)


def data_window(con: duckdb.DuckDBPyConnection, until: datetime | None = None) -> tuple[datetime, datetime] | None:
    span = fetch(
        con,
        "select started_at as lo, ended_at as hi from intermediate.int_gpu_telemetry__span",
    )
    lo, hi = span["lo"][0], span["hi"][0]
    if lo is None:
        return None
    return lo, min(hi, until) if until is not None else hi


def evaluate(
    con: duckdb.DuckDBPyConnection,
    until: datetime | None = None,
    since: datetime | None = None,
    clock: StepClock | None = None,
) -> pl.DataFrame:
    """Alerts from the data before `until` (all the data when None), looking back to `since`; `clock` collects the
    seconds of each family of rules."""
    clock = clock or StepClock()
    window = data_window(con, until)
    if window is None:
        return pl.DataFrame(schema=alerting.ALERT_SCHEMA)
    if since is not None:
        window = (max(window[0], since), window[1])
    health, config = health_config(), detection_config()
    specs = rule_specs(health, config)
    delay = health.arrival_delay_min
    with clock.step("detect:health"):
        found = [_annotate(health_episodes(con, health, window), specs)]
    for name, rules in (
        ("detectors", detector_episodes),
        ("cohorts", cohort_episodes),
        ("gaming", gaming_episodes),
    ):
        with clock.step(f"detect:{name}"):
            frame = rules(con, config, window, delay)
        if not frame.is_empty():
            found.append(_annotate(frame, specs))
    found = [f for f in found if not f.is_empty()]
    if not found:
        return pl.DataFrame(schema=alerting.ALERT_SCHEMA)
    episodes = pl.concat(found, how="diagonal_relaxed")
    episodes = _suspect(con, episodes, window)
    return alerting.to_alerts(episodes, window[1])


def rule_specs(health=None, config=None) -> dict[str, RuleSpec]:
    """Every rule an alert can carry and what its alerts say and do: the health rules and their trends (the health
    YAML), the built-in rules and the statistical detectors (detection.yml). The alert log, the runbooks' test and
    docs/detection.md all read this one table."""
    health, config = health or health_config(), config or detection_config()
    specs = {name: RuleSpec(r.severity, r.intent, r.family, r.summary, r.action) for name, r in health.rules.items()}
    for signal, trend in health.trends.items():
        what = "temperature" if signal == "temp_c" else "correctable ECC errors"
        specs[f"{signal}_trend"] = RuleSpec(
            "warning", "ticket", "hardware", f"{what} rising: the {trend.rule} line in about {{value:.0f}} min"
        )
    specs.update(BUILT_IN)
    specs.update({name: RuleSpec(d.severity, d.intent, d.family, d.summary) for name, d in config.detectors.items()})
    return specs


def _annotate(frame: pl.DataFrame, specs: dict[str, RuleSpec]) -> pl.DataFrame:
    """Each episode with its rule's severity, intent, action and summary; its family unless the rule named one."""
    table = pl.DataFrame(
        [(k, s.severity, s.intent, s.family, s.action, s.summary) for k, s in specs.items()],
        schema=["rule", "severity", "intent", "default_family", "action", "summary_template"],
        orient="row",
    )
    out = frame.join(table, on="rule", how="left")
    family = pl.coalesce("family", "default_family") if "family" in out.columns else pl.col("default_family")
    return out.with_columns(family.alias("family")).drop("default_family")


def _suspect(con, episodes: pl.DataFrame, window) -> pl.DataFrame:
    """The latest change of the alert's family that landed within SUSPECT_WINDOW before the episode began, in a
    scope that covers it (same region, one of its nodes, or fleet-wide)."""
    if "suspected_change_id" not in episodes.columns:
        episodes = episodes.with_columns(pl.lit(None, pl.String).alias("suspected_change_id"))
    found = fetch(
        con,
        "select change_id, changed_at, change_type, scope_region, scope_node_ids from staging.stg_changes__events "
        "where change_type <> 'rollback' and changed_at < $2 and changed_at >= $1",
        [window[0] - SUSPECT_WINDOW, window[1]],
    ).with_columns(pl.col("change_type").replace_strict(CHANGE_FAMILIES, default=None).alias("family"))
    if found.is_empty():
        return episodes
    indexed = episodes.with_row_index("_row")
    pairs = indexed.select("_row", "family", "region", "node_id", "started_at").join(found, on="family")
    covers = (
        (pl.col("scope_region").is_null() & pl.col("scope_node_ids").is_null())
        | (pl.col("scope_region") == pl.col("region"))
        | pl.concat_str(pl.lit(","), pl.col("scope_node_ids"), pl.lit(",")).str.contains(
            pl.concat_str(pl.lit(","), pl.col("node_id").fill_null("\x00"), pl.lit(",")), literal=True
        )
    )
    recent = (pl.col("changed_at") <= pl.col("started_at")) & (
        pl.col("changed_at") >= pl.col("started_at") - SUSPECT_WINDOW
    )
    best = (
        pairs.filter(recent & covers.fill_null(False))
        .sort("changed_at")
        .group_by("_row")
        .agg(pl.col("change_id").last().alias("_suspect"))
    )
    return (
        indexed.join(best, on="_row", how="left")
        .with_columns(pl.coalesce("suspected_change_id", "_suspect").alias("suspected_change_id"))
        .drop("_row", "_suspect")
    )
