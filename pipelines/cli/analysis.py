"""The commands that read the warehouse for people: `query`, `explain`, `metrics`, `report`, `quality` and
`campaign`."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipelines.cli.options import add_db, add_engine, add_format, add_where, target, timestamp, where_filters
from pipelines.cli.output import print_frame, print_table, shorten
from pipelines.warehouse.access import read_published, writing


def register(commands) -> None:
    query = commands.add_parser("query", help="metrics by any dimension and grain, from the semantic layer")
    query.add_argument("metrics", nargs="+", help="metric names (see `goodput metrics`)")
    query.add_argument("--by", default="", help="comma-separated dimensions, e.g. region,team")
    query.add_argument("--grain", default="day", help="minute, 5min, hour, day or week")
    query.add_argument("--from", dest="start", type=timestamp, help="start (ISO time, inclusive)")
    query.add_argument("--to", dest="end", type=timestamp, help="end (ISO time, exclusive)")
    add_where(query, "filter: the dimension takes one of the values; repeatable")
    add_db(query, help="DuckDB file")
    add_format(query, "table", "csv", "json")
    add_engine(query)
    query.set_defaults(handler=_query)

    explain = commands.add_parser("explain", help="why goodput changed: factors, loss reasons, families, slices")
    add_db(explain, required=True)
    explain.add_argument(
        "--from", dest="start", type=timestamp, help="current window start (default: 24 h before --to)"
    )
    explain.add_argument("--to", dest="end", type=timestamp, help="current window end (default: end of the data)")
    explain.add_argument("--baseline-from", dest="baseline_start", type=timestamp, help="(default: 7 days before)")
    explain.add_argument("--baseline-to", dest="baseline_end", type=timestamp, help="(default: the current start)")
    explain.add_argument(
        "--baseline",
        choices=("week", "yesterday", "before"),
        default="week",
        help="week: the 7 days before; yesterday: the same hours a day earlier; before: as many hours just before",
    )
    add_where(explain, "keep a slice (repeatable)")
    add_format(explain, "table", "json", "html")
    explain.add_argument("--out", type=Path, help="write to this file instead of standard output")
    explain.set_defaults(handler=_explain)

    metrics = commands.add_parser("metrics", help="list the metrics with owner, intent and description")
    add_format(metrics, "table", "json")
    metrics.set_defaults(handler=_metrics)

    report = commands.add_parser("report", help="write the finance, health, war-room and progress pages (HTML)")
    report.add_argument("name", choices=("finance", "health", "warroom", "progress", "all"))
    add_db(report, required=True)
    report.add_argument("--out", type=Path, default=Path("reports"), help="folder for the pages (default: reports)")
    report.add_argument("--from", dest="start", type=timestamp, help="window start (UTC, ISO 8601)")
    report.add_argument("--to", dest="end", type=timestamp, help="window end (UTC, ISO 8601)")
    report.set_defaults(handler=lambda args: write_reports(args.db, args.name, args.out, args.start, args.end))

    quality = commands.add_parser("quality", help="run the data-quality suites and write their HTML report")
    add_db(quality, required=True)
    quality.add_argument("--out", type=Path, default=Path("reports"), help="folder for quality.html (default: reports)")
    quality.set_defaults(handler=_quality)

    campaign = commands.add_parser("campaign", help="list, activate or deactivate (team, workload class) campaigns")
    campaign.add_argument("action", choices=("list", "activate", "deactivate"))
    campaign.add_argument("team", nargs="?")
    campaign.add_argument("workload_class", nargs="?")
    campaign.add_argument("--expected", type=int, help="jobs the campaign should run (activate)")
    add_db(campaign, required=True)
    campaign.set_defaults(handler=_campaign)


def _query(args: argparse.Namespace) -> int:
    from pipelines.semantic.query import query

    where = where_filters(args.where)
    by = [d.strip() for d in args.by.split(",") if d.strip()]
    if args.engine == "spark":
        frame = query(args.metrics, by=by, grain=args.grain, start=args.start, end=args.end, where=where,
                      engine="spark", warehouse=target(args), master=args.master)  # fmt: skip
    else:
        db = target(args)
        if not db.exists():
            raise ValueError(f"no warehouse at {db} (run `goodput build` first)")
        frame = query(args.metrics, by=by, grain=args.grain, start=args.start, end=args.end, where=where, db=db)
    print_frame(frame, args.format)
    return 0


def print_north_star(db: Path) -> None:
    from pipelines.semantic.query import query

    factors = ["goodput", "availability", "allocation", "retention", "step_efficiency"]
    print("\nthe north star by day (goodput = availability x allocation x retention x step efficiency):")
    print_frame(query(factors, grain="day", db=db), "table")


def _explain(args: argparse.Namespace) -> int:
    from pipelines.explain.render import as_html, as_json, as_table
    from pipelines.explain.run import explain_db

    where = where_filters(args.where)
    tree = explain_db(args.db, args.start, args.end, args.baseline_start, args.baseline_end, where, args.baseline)
    text = {"table": as_table, "json": as_json, "html": as_html}[args.format](tree)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        print(f"wrote {args.out}")
    else:
        print(text)
    return 0


def _metrics(args: argparse.Namespace) -> int:
    import json

    from pipelines.semantic.catalog import load_catalog

    catalog = load_catalog()
    if args.format == "json":
        print(json.dumps([m.model_dump() for m in catalog.values()], indent=1))
        return 0
    rows = [[m.name, m.owner, m.timing, m.intent, m.type, shorten(m.description, 90)] for m in catalog.values()]
    print_table(["metric", "owner", "timing", "intent", "type", "description"], rows)
    return 0


def write_reports(db: Path, name: str, out: Path, start=None, end=None) -> int:
    from pipelines.reports.run import write_all, write_report

    with read_published(db) as con:
        written = write_all(con, out, start, end) if name == "all" else [write_report(con, name, out, start, end)]
    for page in written:
        print(
            f"{page.name:<9} {page.path}  ({page.render_s:.1f} s; data {page.data_from:%Y-%m-%d %H:%M} to "
            f"{page.data_to:%Y-%m-%d %H:%M} UTC)"
        )
    return 0


def _quality(args: argparse.Namespace) -> int:
    from pipelines.quality.report import latest_results, render
    from pipelines.quality.suites import run_suites

    with writing(args.db, "goodput quality") as con:
        rows = run_suites(con)
        page = render(latest_results(con))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "quality.html").write_text(page)
    failed = [r for r in rows if r["success"] is False]
    held = sum(r["success"] is True for r in rows)
    print(f"{held} of {held + len(failed)} expectations hold; report: {args.out / 'quality.html'}")
    off = sorted({r["table_name"] for r in rows if r["success"] is None})
    if off:
        print(f"  not connected (no landing file ever loaded; not run): {', '.join(off)}")
    for row in failed:
        print(
            f"  FAILED {row['table_name']}: {row['expectation']} {row['column_name'] or ''} "
            f"({row['unexpected_count'] if row['unexpected_count'] is not None else row['observed_value']})"
        )
    return 1 if failed else 0


def _campaign(args: argparse.Namespace) -> int:
    from pipelines.reports.campaigns import activate, listed, register_new

    with writing(args.db, "goodput campaign") as con:
        register_new(con)
        if args.action != "list":
            if not args.team or not args.workload_class:
                raise ValueError(f"campaign {args.action} needs TEAM and WORKLOAD_CLASS")
            activate(con, args.team, args.workload_class, args.expected, active=args.action == "activate")
        rows = listed(con)
    print_frame(rows, "table")
    return 0
