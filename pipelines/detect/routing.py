"""Alert routing: pages and tickets into an outbox table, delivered as HTTP POSTs of JSON with retries and backoff,
escalated when a page is not acknowledged in time. The outbox is the record: an unreachable webhook leaves the
alert waiting there, never lost."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Literal

import duckdb
from pydantic import BaseModel, ConfigDict, Field

from pipelines.detect.config import CONFIG_DIR, load_yaml
from pipelines.monitoring.alertmanager import sync as sync_alertmanager
from pipelines.warehouse.connection import fetch, table_exists

OUTBOX_DDL = """
create table if not exists alerts.outbox (
    delivery_id varchar primary key, alert_id varchar, channel varchar, url varchar, payload varchar,
    status varchar, attempts integer, next_attempt_at timestamp, last_error varchar,
    queued_at timestamp, delivered_at timestamp
)
"""
ACKS_DDL = "create table if not exists alerts.acks (alert_id varchar primary key, acked_at timestamp, acked_by varchar)"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Channel(_Strict):
    url: str = ""
    # webhook: a JSON POST per alert, escalated by goodput; alertmanager: every open alert posted to Alertmanager's
    # /api/v2/alerts each tick (grouping, silences and escalation are then Alertmanager's)
    type: Literal["webhook", "alertmanager"] = "webhook"


class Routes(_Strict):
    ticket: list[str]
    page: dict[Literal["info", "warning", "critical"], list[str]]
    dashboard: list[str] = Field(default_factory=list)


class Escalation(_Strict):
    after_min: int = Field(ge=1)
    to: list[str]


class Retry(_Strict):
    timeout_s: float = Field(gt=0)
    backoff_s: float = Field(gt=0)
    max_backoff_s: float = Field(gt=0)


class RoutingConfig(_Strict):
    channels: dict[str, Channel]
    routes: Routes
    escalation: Escalation
    retry: Retry


@cache
def routing_config(path: Path = CONFIG_DIR / "routing.yml") -> RoutingConfig:
    config = load_yaml(path, RoutingConfig)
    url = os.environ.get("GOODPUT_ALERTMANAGER_URL", "")
    for channel in config.channels.values():
        if channel.type == "alertmanager" and not channel.url and url:
            channel.url = url  # a deployment's Alertmanager, without editing the packaged file
    return config


def _payload(alert: dict, escalated: bool) -> str:
    prefix = "ESCALATED (not acknowledged): " if escalated else ""
    text = f"{prefix}{alert['summary']}\nrunbook: {alert['runbook']}"
    fields = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in alert.items()}
    return json.dumps({"text": text, "alert": fields}, default=str)


def _queue(con, alert: dict, channels: list[str], config: RoutingConfig, now: datetime, escalated=False) -> int:
    queued = 0
    for channel in channels:
        if channel in config.channels and config.channels[channel].type == "alertmanager":
            continue  # Alertmanager is told of every open alert each tick (see `deliver`), not through the outbox
        url = config.channels[channel].url if channel in config.channels else ""
        delivery_id = f"{alert['alert_id']}:{channel}"
        con.execute(
            "insert into alerts.outbox values (?, ?, ?, ?, ?, 'pending', 0, ?, null, ?, null) on conflict do nothing",
            [delivery_id, alert["alert_id"], channel, url, _payload(alert, escalated), now, now],
        )
        queued += 1
    return queued


def enqueue(con: duckdb.DuckDBPyConnection, now: datetime, since: datetime, config: RoutingConfig | None = None) -> int:
    """Queue the pages and tickets detected in [since, now], and escalate unacknowledged open pages."""
    config = config or routing_config()
    con.execute("create schema if not exists alerts")
    con.execute(OUTBOX_DDL)
    con.execute(ACKS_DDL)
    if not table_exists(con, "alerts", "alerts"):
        return 0
    fresh = fetch(
        con,
        "select * from alerts.alerts where detected_at >= ? and detected_at <= ? and intent <> 'dashboard'",
        [since, now],
    )
    queued = 0
    for alert in fresh.to_dicts():
        routes = config.routes.ticket if alert["intent"] == "ticket" else config.routes.page.get(alert["severity"], [])
        queued += _queue(con, alert, routes, config, now)
    due = now - timedelta(minutes=config.escalation.after_min)
    stale = fetch(
        con,
        "select a.* from alerts.alerts as a anti join alerts.acks as k on k.alert_id = a.alert_id "
        "where a.intent = 'page' and a.detected_at <= ? and (a.resolved_at is null or a.resolved_at > ?)",
        [due, now],
    )
    for alert in stale.to_dicts():
        queued += _queue(con, alert, config.escalation.to, config, now, escalated=True)
    return queued


def post(url: str, body: str, timeout_s: float) -> None:
    request = urllib.request.Request(url, data=body.encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 (configured webhooks)
        if response.status >= 300:
            raise urllib.error.HTTPError(url, response.status, "not delivered", response.headers, None)


def deliver(
    con: duckdb.DuckDBPyConnection,
    now: datetime,
    config: RoutingConfig | None = None,
    send: Callable[[str, str, float], None] = post,
    data_at: datetime | None = None,
) -> dict:
    """Try every due delivery once; a failure is retried later with a doubled wait. Then tell each Alertmanager
    channel what is open at `data_at` (the data's end; default `now`). Returns counts."""
    config = config or routing_config()
    counts = _deliver_webhooks(con, now, config, send)
    for name, channel in config.channels.items():
        if channel.type == "alertmanager" and channel.url and _routed(config, name):
            synced = sync_alertmanager(con, name, channel.url, data_at or now, now, send, config.retry.timeout_s)
            counts = {k: counts.get(k, 0) + synced.get(k, 0) for k in {*counts, *synced}}
    return counts


def _routed(config: RoutingConfig, channel: str) -> bool:
    routes = config.routes
    return channel in routes.ticket or any(channel in chain for chain in routes.page.values())


def _deliver_webhooks(con, now: datetime, config: RoutingConfig, send) -> dict:
    con.execute("create schema if not exists alerts")
    con.execute(OUTBOX_DDL)
    due = fetch(
        con, "select * from alerts.outbox where status = 'pending' and url <> '' and next_attempt_at <= ?", [now]
    )
    counts = {"delivered": 0, "failed": 0, "waiting": 0}
    for row in due.to_dicts():
        try:
            send(row["url"], row["payload"], config.retry.timeout_s)
        except (OSError, urllib.error.URLError, ValueError) as error:
            attempts = row["attempts"] + 1
            wait = min(config.retry.backoff_s * 2 ** (attempts - 1), config.retry.max_backoff_s)
            con.execute(
                "update alerts.outbox set attempts = ?, next_attempt_at = ?, last_error = ? where delivery_id = ?",
                [attempts, now + timedelta(seconds=wait), str(error)[:300], row["delivery_id"]],
            )
            counts["failed"] += 1
            continue
        con.execute(
            "update alerts.outbox set status = 'delivered', attempts = attempts + 1, delivered_at = ? "
            "where delivery_id = ?",
            [now, row["delivery_id"]],
        )
        counts["delivered"] += 1
    waiting = fetch(con, "select count(*) as n from alerts.outbox where status = 'pending'")
    counts["waiting"] = int(waiting["n"][0])
    return counts


def acknowledge(con: duckdb.DuckDBPyConnection, alert_id: str, who: str, now: datetime) -> None:
    con.execute("create schema if not exists alerts")
    con.execute(ACKS_DDL)
    if fetch(con, "select count(*) as n from alerts.alerts where alert_id = ?", [alert_id])["n"][0] == 0:
        raise ValueError(f"no alert {alert_id} in the alert log")
    con.execute("insert into alerts.acks values (?, ?, ?) on conflict do nothing", [alert_id, now, who])
