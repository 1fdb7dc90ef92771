"""Routing: pages and tickets reach their webhooks; an unreachable webhook keeps the alert in the outbox and it is
delivered once the webhook recovers; an unacknowledged page escalates."""

import json
import threading
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import duckdb
import polars as pl
import pytest

from pipelines.detect.alerts import ALERT_SCHEMA
from pipelines.detect.routing import acknowledge, deliver, enqueue, routing_config

NOW = datetime(2026, 3, 2, 10, 5)


class FlakyWebhook(BaseHTTPRequestHandler):
    """Fails the first `fail` requests with 503, then accepts; keeps what it received."""

    fail = 0
    received: list[dict] = []

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if FlakyWebhook.fail > 0:
            FlakyWebhook.fail -= 1
            self.send_response(503)
        else:
            FlakyWebhook.received.append(json.loads(body))
            self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture()
def webhook():
    server = HTTPServer(("127.0.0.1", 0), FlakyWebhook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    FlakyWebhook.received = []
    yield f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()


def _con(intent="page", severity="critical") -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("create schema alerts")
    row = {k: None for k in ALERT_SCHEMA} | {
        "alert_id": "al-1",
        "rule": "ecc_correctable_spike",
        "severity": severity,
        "intent": intent,
        "family": "hardware",
        "summary": "[critical] hardware: 12 correctable ECC errors in 5 minutes (node n1)",
        "runbook": "docs/runbooks/ecc_correctable_spike.md",
        "started_at": NOW - timedelta(minutes=5),
        "detected_at": NOW,
        "value": 12.0,
        "scope": "{}",
    }
    con.register("_a", pl.DataFrame([row], schema=ALERT_SCHEMA).to_arrow())
    con.execute("create table alerts.alerts as select * from _a")
    return con


def _config(url: str):
    config = routing_config().model_copy(deep=True)
    for channel in config.channels.values():
        if channel.type == "webhook":  # Alertmanager channels have their own tests (tests/monitoring)
            channel.url = url
    return config


def test_a_failing_webhook_loses_nothing_and_delivers_after_recovery(webhook):
    con, config = _con(), _config(webhook)
    assert enqueue(con, NOW, NOW - timedelta(minutes=5), config) == 2  # critical page: chat and pager
    FlakyWebhook.fail = 3
    first = deliver(con, NOW, config)
    assert first == {"delivered": 0, "failed": 2, "waiting": 2}
    # not due yet: the backoff holds the retry back
    assert deliver(con, NOW + timedelta(seconds=5), config)["failed"] == 0
    second = deliver(con, NOW + timedelta(seconds=20), config)  # one more failure, one delivery
    assert (second["delivered"], second["failed"]) == (1, 1)
    third = deliver(con, NOW + timedelta(minutes=5), config)
    assert third == {"delivered": 1, "failed": 0, "waiting": 0}
    attempts = dict(con.execute("select channel, attempts from alerts.outbox").fetchall())
    assert sorted(attempts.values()) == [2, 3]
    payload = FlakyWebhook.received[0]
    assert "runbook: docs/runbooks/ecc_correctable_spike.md" in payload["text"]
    assert payload["alert"]["alert_id"] == "al-1"


def test_routes_by_intent_and_severity(webhook):
    config = _config(webhook)
    channels = {}
    for intent, severity in (("ticket", "warning"), ("page", "warning"), ("dashboard", "critical")):
        con = _con(intent, severity)
        enqueue(con, NOW, NOW - timedelta(minutes=5), config)
        channels[(intent, severity)] = sorted(r[0] for r in con.execute("select channel from alerts.outbox").fetchall())
    assert channels == {("ticket", "warning"): ["ticket"], ("page", "warning"): ["chat"], ("dashboard", "critical"): []}


def test_an_unacknowledged_page_escalates_and_an_acknowledged_one_does_not(webhook):
    config = _config(webhook)
    con = _con()
    enqueue(con, NOW, NOW - timedelta(minutes=5), config)
    enqueue(con, NOW + timedelta(minutes=16), NOW + timedelta(minutes=11), config)
    assert ("al-1:pager_secondary",) in con.execute("select delivery_id from alerts.outbox").fetchall()
    con = _con()
    enqueue(con, NOW, NOW - timedelta(minutes=5), config)
    acknowledge(con, "al-1", "oncall", NOW + timedelta(minutes=3))
    enqueue(con, NOW + timedelta(minutes=16), NOW + timedelta(minutes=11), config)
    assert ("al-1:pager_secondary",) not in con.execute("select delivery_id from alerts.outbox").fetchall()
