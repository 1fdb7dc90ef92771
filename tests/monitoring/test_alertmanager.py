"""Alertmanager as the pager, against the real server: a replayed scenario's pages and tickets arrive grouped by
incident, a silence stops their notifications, and an Alertmanager stopped mid-run gets every open alert once back."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import duckdb
import pytest

from pipelines.detect.routing import post
from pipelines.monitoring.alertmanager import sync, to_alertmanager
from pipelines.warehouse.layout import working_path
from pipelines.warehouse.publish import clone
from tests.monitoring.servers import alertmanager, free_port, needs_alertmanager


class Receiver:
    """A webhook receiver on loopback that keeps every notification Alertmanager sends."""

    def __init__(self):
        self.notifications: list[dict] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                owner.notifications.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format, *args):  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def incidents(self) -> set[str]:
        return {a["labels"].get("incident_id") for n in self.notifications for a in n["alerts"]}


def _config(hook: str) -> str:
    return (
        "route:\n  receiver: hook\n  group_by: [incident_id]\n  group_wait: 1s\n  group_interval: 1s\n"
        "  repeat_interval: 1h\nreceivers:\n  - name: hook\n    webhook_configs:\n"
        f"      - url: {hook}\n        send_resolved: true\n"
    )


def _get(url: str):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


@pytest.fixture()
def replay(incidents_db_path, tmp_path):
    """A copy of the all-incidents warehouse, and the data time at which most of its pages and tickets are open."""
    clone(incidents_db_path, tmp_path / "w.duckdb")
    con = duckdb.connect(str(working_path(tmp_path / "w.duckdb")))
    spans = con.execute(
        "select detected_at, resolved_at from alerts.alerts where intent in ('page', 'ticket')"
    ).fetchall()

    def open_at(t):
        return sum(d <= t and (r is None or r > t) for d, r in spans)

    at = max(sorted(d for d, _ in spans), key=open_at)
    yield con, at
    con.close()


def _open_at(con, at) -> set[str]:
    rows = con.execute(
        "select alert_id from alerts.alerts where intent in ('page', 'ticket') and detected_at <= ? "
        "and (resolved_at is null or resolved_at > ?)",
        [at, at],
    ).fetchall()
    return {r[0] for r in rows}


def test_the_shape_alertmanager_is_sent():
    alert = {
        "alert_id": "al-1", "rule": "goodput_drop", "severity": "warning", "intent": "ticket", "family": "software",
        "incident_id": "inc-7", "scope": json.dumps({"region": "us-east", "nodes": ["n1"], "team": None}),
        "started_at": datetime(2026, 3, 2, 10), "detected_at": datetime(2026, 3, 2, 10, 15), "summary": "lost 30%",
        "runbook": "docs/runbooks/goodput_drop.md", "suspected_change_id": "chg-1",
    }  # fmt: skip
    body = to_alertmanager(alert, datetime(2026, 3, 2, 11))
    assert body["labels"] == {
        "alertname": "goodput_drop", "severity": "warning", "intent": "ticket", "family": "software",
        "incident_id": "inc-7", "alert_id": "al-1", "source": "goodput", "region": "us-east", "node": "n1",
    }  # fmt: skip
    assert body["annotations"] == {
        "summary": "lost 30%", "runbook_url": "docs/runbooks/goodput_drop.md", "suspected_change_id": "chg-1"
    }  # fmt: skip
    assert (body["startsAt"], body["endsAt"]) == ("2026-03-02T10:00:00.000000Z", "2026-03-02T11:00:00.000000Z")


@needs_alertmanager
def test_pages_arrive_grouped_by_incident_and_a_silence_stops_their_notifications(replay, tmp_path):
    con, at = replay
    receiver = Receiver()
    open_ = _open_at(con, at)
    incidents = {r[0] for r in con.execute(
        "select distinct incident_id from alerts.alerts where alert_id in (select unnest(?))", [sorted(open_)]
    ).fetchall()}  # fmt: skip
    assert len(open_) >= 2 and len(incidents) >= 2
    silenced = sorted(incidents)[0]
    with alertmanager(tmp_path / "am", _config(receiver.url)) as url:
        now = datetime.now(UTC).replace(tzinfo=None)
        silence = {
            "matchers": [{"name": "incident_id", "value": silenced, "isRegex": False, "isEqual": True}],
            "startsAt": (now.isoformat() + "Z"), "endsAt": "2099-01-01T00:00:00Z",
            "createdBy": "test", "comment": "the on-call silences one incident",
        }  # fmt: skip
        post(f"{url}/api/v2/silences", json.dumps(silence), 5.0)
        assert sync(con, "alertmanager", url, at, now, post)["alertmanager_sent"] == len(open_)
        assert sync(con, "alertmanager", url, at, now, post)["alertmanager_sent"] == len(open_)  # re-sent: same
        groups = _wait(
            lambda: _get(f"{url}/api/v2/alerts/groups"), lambda g: sum(len(x["alerts"]) for x in g) == len(open_)
        )
        by_incident = {g["labels"]["incident_id"]: {a["labels"]["alert_id"] for a in g["alerts"]} for g in groups}
        assert set(by_incident) == incidents and set().union(*by_incident.values()) == open_
        _wait(lambda: receiver.incidents(), lambda seen: seen == incidents - {silenced})
        time.sleep(2)  # a group interval more: the silenced incident still notifies nobody
        assert receiver.incidents() == incidents - {silenced}
        assert sum(len(n["alerts"]) for n in receiver.notifications) == len(open_) - len(by_incident[silenced])


@needs_alertmanager
def test_alertmanager_down_mid_run_gets_every_open_alert_once_back(replay, tmp_path):
    con, at = replay
    receiver = Receiver()
    port = free_port()
    now = datetime.now(UTC).replace(tzinfo=None)
    with alertmanager(tmp_path / "am1", _config(receiver.url), port) as url:
        assert sync(con, "alertmanager", url, at, now, post)["alertmanager_failed"] == 0
    # down: the tick's attempt fails, and nothing is marked as told
    down = sync(con, "alertmanager", f"http://127.0.0.1:{port}", at, now, post)
    assert down["alertmanager_sent"] == 0 and down["alertmanager_failed"] == len(_open_at(con, at))
    with alertmanager(tmp_path / "am2", _config(receiver.url), port) as url:  # back, with an empty memory
        assert sync(con, "alertmanager", url, at, now, post)["alertmanager_sent"] == len(_open_at(con, at))
        alerts = _wait(lambda: _get(f"{url}/api/v2/alerts"), lambda a: len(a) == len(_open_at(con, at)))
        assert {a["labels"]["alert_id"] for a in alerts} == _open_at(con, at)


def _wait(read, done, timeout_s: float = 30.0):
    deadline = time.monotonic() + timeout_s
    while True:
        value = read()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.3)
