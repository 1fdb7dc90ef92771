"""The commands on-call runs: `alerts`, `score`, `drain`, `stragglers` and `ack`."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipelines.cli.options import add_db, add_format, timestamp
from pipelines.cli.output import optional, print_frame, print_table
from pipelines.warehouse.access import read_published, writing


def register(commands) -> None:
    alerts = commands.add_parser("alerts", help="the alert log: every alert the 5-minute ticks raised")
    add_db(alerts, help="DuckDB file")
    alerts.add_argument("--since", type=timestamp, help="only alerts detected at or after this time")
    add_format(alerts, "table", "json")
    alerts.set_defaults(handler=_alerts)

    score = commands.add_parser("score", help="hold the alerts against the simulator's incident truth")
    add_db(score, help="DuckDB file")
    score.add_argument("--truth", type=Path, required=True, help="folder with incidents.json (or its _truth/)")
    add_format(score, "table", "json")
    score.set_defaults(handler=_score)

    drain = commands.add_parser("drain", help="GPUs a scheduler should drain, from quarantine and preempt alerts")
    add_db(drain, help="DuckDB file")
    drain.add_argument("--all", action="store_true", help="include entries whose cool-off has passed")
    add_format(drain, "table", "json", "csv")
    drain.set_defaults(handler=_drain)

    stragglers = commands.add_parser("stragglers", help="workers slower than their peers in distributed jobs")
    add_db(stragglers, help="DuckDB file")
    add_format(stragglers, "table", "json")
    stragglers.set_defaults(handler=_stragglers)

    ack = commands.add_parser("ack", help="acknowledge a page so that it does not escalate")
    ack.add_argument("alert_id")
    add_db(ack, help="DuckDB file")
    ack.add_argument("--by", default="oncall", help="who acknowledges")
    ack.set_defaults(handler=_ack)


def _alerts(args: argparse.Namespace) -> int:
    from pipelines.detect.store import read_alerts

    with read_published(args.db) as con:
        frame = read_alerts(con, args.since)
    if args.format == "json":
        import json

        import polars as pl

        rows = frame.with_columns(pl.col(pl.Datetime).dt.strftime("%Y-%m-%dT%H:%M:%SZ")).to_dicts()
        for row in rows:  # the scope is stored as JSON text; its keys vary by rule
            row["scope"] = json.loads(row["scope"]) if row["scope"] else None
        print(json.dumps(rows, indent=1))
        return 0
    columns = ["detected_at", "severity", "intent", "family", "rule", "started_at", "resolved_at", "summary"]
    print_frame(frame.select(columns), "table")
    return 0


def print_open_alerts(db: Path) -> None:
    import polars as pl

    from pipelines.detect.store import read_alerts

    with read_published(db) as con:
        frame = read_alerts(con)
    open_ = frame.filter(pl.col("resolved_at").is_null() & pl.col("intent").is_in(["page", "ticket"]))
    pages = frame.filter(pl.col("intent") == "page")
    print(f"\nalerts: {len(frame)} raised over the data ({len(pages)} pages); {len(open_)} open pages and tickets:")
    if len(open_):
        print_frame(open_.select("detected_at", "intent", "family", "rule", "summary"), "table")
    print(f"  (`goodput alerts --db {db}` lists every alert with its runbook)")


def _score(args: argparse.Namespace) -> int:
    import json

    from pipelines.detect.score import score

    with read_published(args.db) as con:
        result = score(con, args.truth)
    if args.format == "json":
        print(json.dumps(result, indent=1, default=str))
        return 0
    header = ["incident", "kind", "family", "detected", "latency min", "alert rule", "alert family", "family ok"]
    rows = [
        [
            r["incident_id"],
            r["kind"],
            r["family"],
            "yes" if r["detected"] else "NO",
            optional(r["latency_min"], "{:.0f}"),
            r["alert_rule"] or "",
            r["alert_family"] or "",
            "yes" if r["family_match"] else "no",
        ]
        for r in result["incidents"]
    ]
    print_table(header, rows)
    print("summary: " + ", ".join(f"{k} {v}" for k, v in result["summary"].items()))
    for page in result["false_pages"]:
        print(f"false page: {page['detected_at']} {page['rule']}: {page['summary']}")
    return 0


def _drain(args: argparse.Namespace) -> int:
    import polars as pl

    from pipelines.detect.store import read_drain_list

    with read_published(args.db) as con:
        frame = read_drain_list(con)
    print_frame(frame if args.all else frame.filter(pl.col("is_active")), args.format)
    return 0


def _stragglers(args: argparse.Namespace) -> int:
    from pipelines.detect.store import read_stragglers

    with read_published(args.db) as con:
        frame = read_stragglers(con)
    print_frame(frame, args.format)
    return 0


def _ack(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from pipelines.detect.routing import acknowledge

    with writing(args.db, "goodput ack") as con:
        acknowledge(con, args.alert_id, args.by, datetime.now(UTC).replace(tzinfo=None))
    print(f"acknowledged {args.alert_id}")
    return 0
