"""Alerts held against the simulator's truth: for each incident that should page, whether a page or ticket
overlapping it in time and scope was raised, how late and with which family; and every page that matched no
pageable incident (maintenance, the weekday surge and noise must page nobody)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from statistics import median

import duckdb

from pipelines.warehouse.connection import fetch, table_exists

EARLY = timedelta(minutes=10)  # an alert that began this long before the incident is about something else
GRACE = timedelta(minutes=30)  # after the end, effects drain (requeued jobs, queues)
FLAG_FAMILIES = ("gaming", "telemetry")


class ScoreError(ValueError):
    """Truth or alerts that cannot be scored."""


def load_truth(folder: Path) -> list[dict]:
    for path in (folder / "incidents.json", folder / "_truth" / "incidents.json"):
        if path.is_file():
            rows = json.loads(path.read_text())
            for row in rows:
                for key in ("start_at", "end_at"):
                    row[key] = datetime.fromisoformat(row[key].replace("Z", "+00:00")).replace(tzinfo=None)
            return rows
    raise ScoreError(f"no incidents.json in {folder} or {folder / '_truth'} (the simulator writes it)")


def load_alerts(con: duckdb.DuckDBPyConnection) -> list[dict]:
    if not table_exists(con, "alerts", "alerts"):
        raise ScoreError("the warehouse has no alert log: run `goodput build` first")
    rows = fetch(con, "select * from alerts.alerts order by detected_at").to_dicts()
    for row in rows:
        row["scope"] = json.loads(row["scope"])
    return rows


def _overlaps(alert: dict, incident: dict, node_region: dict[str, str], data_end: datetime) -> bool:
    begin, end = alert["started_at"], alert["resolved_at"] or data_end
    if begin > incident["end_at"] + GRACE or end < incident["start_at"] - EARLY or begin < incident["start_at"] - EARLY:
        return False
    if alert["detected_at"] < incident["start_at"]:  # raised before the incident began: about something else
        return False
    scope, truth = alert["scope"], incident["scope"]
    truth_nodes = set(truth.get("nodes") or [])
    if truth_nodes and scope.get("nodes"):
        return bool(truth_nodes & set(scope["nodes"]))
    truth_regions = {truth["region"]} if truth.get("region") else {node_region.get(n) for n in truth_nodes}
    if truth_regions and alert.get("region"):
        return alert["region"] in truth_regions
    if truth.get("team") and scope.get("team"):
        return truth["team"] == scope["team"]
    return True


def _first_seen(alert: dict, incident: dict) -> tuple:
    """The order in which the alerts that caught an incident count: the earliest tick, a page before a ticket, and
    at the same tick the alert naming the incident's team before one that overlaps it only by a node (a team's
    incident spans every node its jobs may run on, so any node's alert of that minute overlaps it)."""
    team = incident["scope"].get("team")
    return alert["detected_at"], alert["intent"] != "page", not (team and alert["scope"].get("team") == team)


def score(con: duckdb.DuckDBPyConnection, truth_dir: Path) -> dict:
    truth = load_truth(truth_dir)
    alerts = load_alerts(con)
    node_region = dict(fetch(con, "select node_id, region from marts.dim_nodes").iter_rows())
    data_end = max([a["detected_at"] for a in alerts], default=datetime.max)
    data_end = max([data_end, *[i["end_at"] for i in truth]])
    rows = []
    for incident in truth:
        if not incident["should_page"] and incident["family"] not in FLAG_FAMILIES:
            continue
        intents = ("page", "ticket") if incident["should_page"] else ("page", "ticket", "dashboard")
        matched = [a for a in alerts if a["intent"] in intents and _overlaps(a, incident, node_region, data_end)]
        first = min(matched, key=lambda a: _first_seen(a, incident), default=None)
        latency = (
            None if first is None else max(0.0, (first["detected_at"] - incident["start_at"]).total_seconds() / 60)
        )
        rows.append(
            {
                "incident_id": incident["incident_id"],
                "kind": incident["kind"],
                "family": incident["family"],
                "should_page": incident["should_page"],
                "start_at": incident["start_at"].isoformat(),
                "detected": first is not None,
                "latency_min": latency,
                "alert_id": first and first["alert_id"],
                "alert_rule": first and first["rule"],
                "alert_family": first and first["family"],
                "family_match": first is not None and first["family"] == incident["family"],
            }
        )
    pageable = [i for i in truth if i["should_page"]]
    false_pages = [
        a for a in alerts if a["intent"] == "page" and not any(_overlaps(a, i, node_region, data_end) for i in pageable)
    ]
    # tickets no incident of the truth explains: not false pages (nobody is woken), but noise a team reads
    unmatched = [
        a for a in alerts if a["intent"] == "ticket" and not any(_overlaps(a, i, node_region, data_end) for i in truth)
    ]
    return {
        "incidents": rows,
        "summary": {**_summary(rows, false_pages), "unmatched_tickets": len(unmatched)},
        "false_pages": [_brief(a) for a in false_pages],
        "unmatched_tickets": [_brief(a) for a in unmatched],
    }


def _summary(rows: list[dict], false_pages: list[dict]) -> dict:
    paged = [r for r in rows if r["should_page"]]
    detected = [r for r in paged if r["detected"]]
    latencies = [r["latency_min"] for r in detected]
    flags = [r for r in rows if not r["should_page"]]
    return {
        "pageable": len(paged),
        "detected": len(detected),
        "within_15_min": sum(1 for x in latencies if x <= 15),
        "median_latency_min": median(latencies) if latencies else None,
        "max_latency_min": max(latencies) if latencies else None,
        "family_accuracy": (sum(r["family_match"] for r in detected) / len(detected)) if detected else None,
        "false_pages": len(false_pages),
        "flag_incidents": len(flags),
        "flagged": sum(1 for r in flags if r["detected"]),
    }


def _brief(alert: dict) -> dict:
    keep = ("alert_id", "rule", "family", "region", "started_at", "detected_at", "summary")
    return {k: (alert[k].isoformat() if isinstance(alert[k], datetime) else alert[k]) for k in keep}
