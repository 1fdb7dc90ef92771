"""Alertmanager as the pager: open pages and tickets POSTed to `/api/v2/alerts`, re-sent every tick while they fire
(as Prometheus does, with `endsAt` a few ticks ahead so that Alertmanager resolves them if goodput stops), and once
more with `endsAt` when they resolve. Grouping, inhibition, silences, repeats and escalation are Alertmanager's.

Nothing is lost while Alertmanager is down: what it must know is derived each tick from the alert log and
`alerts.alertmanager_sent` (what it has been told), so the next tick that reaches it sends everything still open
and every resolution it missed. Nothing pages twice: an alert keeps one label set (with its `alert_id`), and
Alertmanager treats a re-sent alert as the same one."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta

import duckdb
import polars as pl

from pipelines.warehouse.connection import fetch, table_exists

SENT_DDL = """
create table if not exists alerts.alertmanager_sent (
    channel varchar, alert_id varchar, firing_sent_at timestamp, resolved_sent_at timestamp,
    primary key (channel, alert_id)
)
"""
RESEND_AHEAD = timedelta(minutes=20)  # four 5-minute ticks, as Prometheus sends endsAt 4 evaluations ahead
SCOPE_LABELS = ("region", "cohort", "team", "sku")
MAX_NODES_IN_LABEL = 8


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def to_alertmanager(alert: dict, ends_at: datetime | None) -> dict:
    """One alert in Alertmanager's v2 shape: identity in labels, what to read in annotations."""
    scope = json.loads(alert["scope"]) if alert.get("scope") else {}
    labels = {
        "alertname": alert["rule"],
        "severity": alert["severity"],
        "intent": alert["intent"],
        "family": alert.get("family") or "",
        "incident_id": alert.get("incident_id") or "",
        "alert_id": alert["alert_id"],
        "source": "goodput",
    }
    for key in SCOPE_LABELS:
        if scope.get(key) not in (None, ""):
            labels[key] = str(scope[key])
    nodes = scope.get("nodes") or []
    if len(nodes) == 1:
        labels["node"] = nodes[0]
    elif nodes:  # a cohort of nodes: named while they are few, counted beyond
        labels["nodes"] = ",".join(nodes[:MAX_NODES_IN_LABEL]) + (
            f",+{len(nodes) - MAX_NODES_IN_LABEL}" if len(nodes) > MAX_NODES_IN_LABEL else ""
        )
    annotations = {
        "summary": alert.get("summary") or "",
        "runbook_url": alert.get("runbook") or "",
        "suspected_change_id": alert.get("suspected_change_id") or "",
    }
    body = {
        "labels": {k: v for k, v in labels.items() if v != ""},
        "annotations": {k: v for k, v in annotations.items() if v != ""},
        "startsAt": _iso(alert["started_at"] or alert["detected_at"]),
    }
    if ends_at is not None:
        body["endsAt"] = _iso(ends_at)
    return body


def sync(
    con: duckdb.DuckDBPyConnection,
    channel: str,
    url: str,
    at: datetime,
    wall: datetime,
    send: Callable[[str, str, float], None],
    timeout_s: float = 5.0,
) -> dict:
    """Tell Alertmanager at `url` every page and ticket open at data time `at` and every resolution it has not
    heard of. Returns counts; a failure leaves the record as it was, for the next tick."""
    con.execute("create schema if not exists alerts")
    con.execute(SENT_DDL)
    if not table_exists(con, "alerts", "alerts"):
        return {"alertmanager_sent": 0, "alertmanager_failed": 0}
    firing = fetch(
        con,
        "select * from alerts.alerts where intent in ('page', 'ticket') and detected_at <= ? "
        "and (resolved_at is null or resolved_at > ?)",
        [at, at],
    )
    resolved = fetch(
        con,
        "select a.* from alerts.alerts as a join alerts.alertmanager_sent as s "
        "on s.alert_id = a.alert_id and s.channel = ? "
        "where s.resolved_sent_at is null and a.resolved_at is not null and a.resolved_at <= ?",
        [channel, at],
    )
    bodies = [to_alertmanager(a, wall + RESEND_AHEAD) for a in firing.to_dicts()]
    bodies += [to_alertmanager(a, a["resolved_at"]) for a in resolved.to_dicts()]
    if not bodies:
        return {"alertmanager_sent": 0, "alertmanager_failed": 0}
    try:
        send(f"{url.rstrip('/')}/api/v2/alerts", json.dumps(bodies), timeout_s)
    except (OSError, ValueError):
        return {"alertmanager_sent": 0, "alertmanager_failed": len(bodies)}
    _record(con, channel, firing["alert_id"], resolved["alert_id"], wall)
    return {"alertmanager_sent": len(bodies), "alertmanager_failed": 0}


def _record(con, channel: str, firing: pl.Series, resolved: pl.Series, wall: datetime) -> None:
    frame = pl.DataFrame({"alert_id": firing.to_list()}, schema={"alert_id": pl.String})  # noqa: F841 (DuckDB reads it)
    con.execute(
        "insert into alerts.alertmanager_sent select ?, alert_id, ?, null from frame on conflict do update "
        "set firing_sent_at = excluded.firing_sent_at",
        [channel, wall],
    )
    done = pl.DataFrame({"alert_id": resolved.to_list()}, schema={"alert_id": pl.String})  # noqa: F841
    con.execute(
        "update alerts.alertmanager_sent set resolved_sent_at = ? where channel = ? "
        "and alert_id in (select alert_id from done)",
        [wall, channel],
    )
