"""Episodes to alerts, alerts to incidents: one alert per rule per region for the episodes of one cause (not one
per GPU), with every field a human needs at 3 a.m.; alerts of one family, place and time form one incident."""

from __future__ import annotations

import hashlib
import json
import math
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl

MERGE_GAP = timedelta(minutes=30)
RUNBOOKS = Path("docs/runbooks")
ALERT_SCHEMA = {
    "alert_id": pl.String,
    "incident_id": pl.String,
    "rule": pl.String,
    "severity": pl.String,
    "intent": pl.String,
    "family": pl.String,
    "action": pl.String,
    "region": pl.String,
    "scope": pl.String,
    "started_at": pl.Datetime("us"),
    "detected_at": pl.Datetime("us"),
    "resolved_at": pl.Datetime("us"),
    "value": pl.Float64,
    "baseline": pl.Float64,
    "suspected_change_id": pl.String,
    "summary": pl.String,
    "runbook": pl.String,
}
SCOPE_LISTS = ("gpu_id", "node_id")


def merge_runs(frame: pl.DataFrame, by: list[str], data_end: datetime) -> pl.DataFrame:
    """A `_group` number per row: rows of the same `by` whose spans overlap or lie within MERGE_GAP of each other."""
    ends = pl.col("resolved_at").fill_null(pl.lit(data_end))
    return (
        frame.sort([*by, "started_at"])
        .with_columns(ends.cum_max().shift(1).over(by).alias("_prev_end"))
        .with_columns(
            (pl.col("_prev_end").is_null() | (pl.col("started_at") > pl.col("_prev_end") + MERGE_GAP))
            .cast(pl.Int32)
            .cum_sum()
            .over(by)
            .alias("_group")
        )
        .drop("_prev_end")
    )


def to_alerts(found: pl.DataFrame, data_end: datetime) -> pl.DataFrame:
    """One alert per (rule, region, group of overlapping episodes). `found` holds episodes with `rule`, `severity`,
    `intent`, `family`, `action`, `summary_template`, scope columns and optionally `suspected_change_id`."""
    if found.is_empty():
        return pl.DataFrame(schema=ALERT_SCHEMA)
    for column, dtype in {
        "gpu_id": pl.String,
        "node_id": pl.String,
        "sku": pl.String,
        "team": pl.String,
        "cohort": pl.String,
        "baseline": pl.Float64,
        "threshold": pl.Float64,
        "suspected_change_id": pl.String,
        "region": pl.String,
    }.items():
        if column not in found.columns:
            found = found.with_columns(pl.lit(None, dtype).alias(column))
    keyed = found.with_columns(pl.col("region").fill_null("all"), pl.col("cohort").fill_null(""))
    grouped = merge_runs(keyed, ["rule", "region", "cohort"], data_end)
    # the first episode, and of episodes detected at once (a node's sixteen GPUs) the worst, then by name: the
    # alert must not depend on the order its input rows arrive in (a Spark mart is read in another order)
    grouped = grouped.sort(
        ["detected_at", "value", "gpu_id", "node_id"], descending=[False, True, False, False], nulls_last=True
    )
    alerts = grouped.group_by(["rule", "region", "cohort", "_group"]).agg(
        *[pl.col(c).first() for c in ("severity", "intent", "family", "action", "summary_template")],
        *[pl.col(c).first() for c in ("value", "baseline", "threshold", "suspected_change_id", "team")],
        pl.col("started_at").min(),
        pl.col("detected_at").min(),
        pl.when(pl.col("resolved_at").is_null().any())
        .then(None)
        .otherwise(pl.col("resolved_at").max())
        .alias("resolved_at"),
        *[pl.col(c).drop_nulls().unique().sort().alias(f"{c}s") for c in (*SCOPE_LISTS, "sku")],
    )
    return alerts.pipe(_describe).pipe(_incidents, data_end).select(list(ALERT_SCHEMA)).sort("detected_at", "rule")


def _describe(alerts: pl.DataFrame) -> pl.DataFrame:
    rows = alerts.to_dicts()
    for row in rows:
        row["region"] = None if row["region"] == "all" else row["region"]
        scope = {
            "nodes": row["node_ids"],
            "gpus": row["gpu_ids"],
            "region": row["region"],
            "sku": row["skus"][0] if len(row["skus"]) == 1 else None,
            "team": row["team"],
            "cohort": row["cohort"] or None,
        }
        row["scope"] = json.dumps(scope, sort_keys=True)
        row["summary"] = _summary(row)
        row["runbook"] = str(RUNBOOKS / f"{row['rule']}.md")
        key = f"{row['rule']}|{row['region']}|{row['cohort']}|{row['started_at'].isoformat()}"
        row["alert_id"] = "al-" + hashlib.sha1(key.encode()).hexdigest()[:12]
    return pl.DataFrame(rows, schema_overrides={"resolved_at": pl.Datetime("us")}, infer_schema_length=None)


class _Ratio(float):
    """A value against its baseline; against a zero baseline it is written ∞, not 'nan' or 'inf'."""

    def __format__(self, spec: str) -> str:
        return "∞" if math.isinf(self) else super().__format__(spec)


def _summary(row: dict) -> str:
    baseline = row["baseline"]
    ratio = _Ratio(row["value"] / baseline if baseline else math.inf)
    values = {"value": row["value"], "threshold": row["threshold"] or 0.0, "baseline": baseline or 0.0, "ratio": ratio}
    try:
        what = row["summary_template"].format(**values)
    except (KeyError, ValueError, IndexError):
        what = f"{row['rule']} at {row['value']:.3g}"
    where = ", ".join(
        part
        for part in (
            _few(row["node_ids"], "node"),
            f"{len(row['gpu_ids'])} GPU(s)" if row["gpu_ids"] else "",
            row["region"] or "",
            f"team {row['team']}" if row["team"] else "",
            f"cohort {row['cohort']}" if row["cohort"] else "",
        )
        if part
    )
    return f"[{row['severity']}] {row['family']}: {what} ({where or 'fleet'})"


def _few(items: list[str], noun: str) -> str:
    if not items:
        return ""
    shown = ", ".join(items[:3])
    return f"{noun}s {shown} and {len(items) - 3} more" if len(items) > 3 else f"{noun} {shown}"


def _incidents(alerts: pl.DataFrame, data_end: datetime) -> pl.DataFrame:
    """Alerts of one family and region whose spans touch form one incident, named after its first alert; incidents
    of one family that blame the same change are one cause wherever they are (a team's priority change ticketed in
    two regions is one incident)."""
    grouped = merge_runs(alerts.with_columns(pl.col("region").fill_null("all").alias("_r")), ["family", "_r"], data_end)
    first = pl.col("alert_id").sort_by(["detected_at", "alert_id"]).first().over(["family", "_r", "_group"])
    grouped = grouped.with_columns(first.str.replace("al-", "in-").alias("incident_id")).drop("_r", "_group")
    return grouped.with_columns(pl.col("incident_id").replace(_joined_by_change(grouped)))


def _joined_by_change(alerts: pl.DataFrame) -> dict[str, str]:
    """Each incident id to the id of the earliest incident it shares a suspected change with (of the same family),
    through any chain of shared changes."""
    opened = dict(alerts.group_by("incident_id").agg(pl.col("detected_at").min()).iter_rows())
    root: dict[str, str] = {}

    def find(incident: str) -> str:
        while root.get(incident, incident) != incident:
            incident = root[incident]
        return incident

    blamed = alerts.filter(pl.col("suspected_change_id").is_not_null())
    for ids in blamed.group_by("family", "suspected_change_id").agg(pl.col("incident_id").unique())["incident_id"]:
        heads = sorted({find(i) for i in ids}, key=lambda i: (opened[i], i))
        for other in heads[1:]:
            root[other] = heads[0]
    return {incident: find(incident) for incident in opened if find(incident) != incident}
