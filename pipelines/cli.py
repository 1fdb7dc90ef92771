"""The `goodput` command line: parses arguments and calls the same functions the Dagster assets call."""

from __future__ import annotations

import argparse
import os
import sys
import time
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

from pipelines.adapters.registry import FORMATS, formats_help

DEFAULT_DATA = Path("data")
WAIT_HELP = "seconds to wait for another writer to finish (default: GOODPUT_WRITER_WAIT or 240)"
BUSY = 3  # the exit code of a writer that gave up waiting for another


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    from pipelines.warehouse import WriterBusy

    try:
        return args.handler(args)
    except WriterBusy as error:
        print(f"goodput {args.command}: {error}", file=sys.stderr)
        return BUSY
    except (ValueError, RuntimeError, OSError) as error:  # our own errors carry a message a user can act on
        print(f"goodput {args.command}: {error}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="goodput", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="the main job: simulate the default fleet and build the warehouse")
    run.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder for landing files and the DuckDB file")
    run.add_argument("--scenario", type=Path, help="scenario YAML (default: the embedded 2-day default fleet)")
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    run.set_defaults(handler=_run)

    simulate = commands.add_parser("simulate", help="simulate a fleet from a scenario into landing Parquet")
    simulate.add_argument("--scenario", type=Path, help="scenario YAML (default: the embedded default)")
    simulate.add_argument("--out", type=Path, required=True, help="landing folder to write")
    simulate.add_argument("--seed", type=int, help="override the scenario's seed")
    simulate.add_argument("--days", type=int, help="override the scenario's number of days")
    simulate.add_argument("--quiet", action="store_true", help="no progress bars")
    simulate.set_defaults(handler=_simulate)

    build = commands.add_parser("build", help="load landing files into the DuckDB warehouse (or onto Spark)")
    build.add_argument("--landing", type=Path, required=True, help="landing folder (<source>/date=.../*.parquet)")
    build.add_argument("--db", type=Path, help="DuckDB file to build into (the DuckDB engine)")
    _engine_arguments(build)
    build.add_argument("--quiet", action="store_true", help="no progress bars")
    build.add_argument("--wait", type=float, help=WAIT_HELP)
    build.add_argument(
        "--max-quarantined",
        type=float,
        help="share of a source's landed rows that may be quarantined before the build fails (default 0.1)",
    )
    build.set_defaults(handler=_build)

    ingest = commands.add_parser("ingest", help="real exporter or scheduler output into landing Parquet")
    ingest.add_argument("inputs", type=Path, nargs="*", metavar="FILE_OR_DIR", help="files, or folders of them")
    # the names come from the registry; an unknown one is the adapters' error (exit 2 with the valid names)
    ingest.add_argument("--format", metavar="{" + ",".join(FORMATS) + "}", help=formats_help())
    ingest.add_argument(
        "--from-prometheus", metavar="URL", help="read the exporters' series from a Prometheus server instead of files"
    )
    ingest.add_argument("--since", type=_timestamp, help="with --from-prometheus: start (or its watermark if later)")
    ingest.add_argument("--until", type=_timestamp, help="with --from-prometheus: end (default: --settle before now)")
    ingest.add_argument(
        "--settle", default="5m", help="with --from-prometheus: how late a sample may reach the server (default 5m)"
    )
    ingest.add_argument(
        "--step", default="60s", help="with --from-prometheus: resolution, e.g. 60s or 1m (default 60s)"
    )
    ingest.add_argument("--landing", type=Path, required=True, help="landing folder to write")
    ingest.add_argument(
        "--at",
        type=_timestamp,
        help="scrape time for scrapes without one; for step-times without ts, the run's start (default: file name, "
        "else mtime: a step log ends when it was last written)",
    )
    ingest.add_argument("--region", default="default", help="region of the GPUs and nodes read (default: default)")
    ingest.add_argument("--node", help="host name for nvidia-smi output (default: the file name's first part)")
    ingest.set_defaults(handler=_ingest)

    query = commands.add_parser("query", help="metrics by any dimension and grain, from the semantic layer")
    query.add_argument("metrics", nargs="+", help="metric names (see `goodput metrics`)")
    query.add_argument("--by", default="", help="comma-separated dimensions, e.g. region,team")
    query.add_argument("--grain", default="day", help="minute, 5min, hour, day or week")
    query.add_argument("--from", dest="start", type=_timestamp, help="start (ISO time, inclusive)")
    query.add_argument("--to", dest="end", type=_timestamp, help="end (ISO time, exclusive)")
    query.add_argument("--where", action="append", default=[], metavar="DIM=VALUE", help="filter; repeatable")
    query.add_argument("--db", type=Path, default=DEFAULT_DATA / "goodput.duckdb", help="DuckDB file")
    query.add_argument("--format", choices=("table", "csv", "json"), default="table")
    _engine_arguments(query)
    query.set_defaults(handler=_query)

    explain = commands.add_parser("explain", help="why goodput changed: factors, loss reasons, families, slices")
    explain.add_argument("--db", type=Path, required=True, help="DuckDB warehouse file")
    explain.add_argument(
        "--from", dest="start", type=_timestamp, help="current window start (default: 24 h before --to)"
    )
    explain.add_argument("--to", dest="end", type=_timestamp, help="current window end (default: end of the data)")
    explain.add_argument("--baseline-from", dest="baseline_start", type=_timestamp, help="(default: 7 days before)")
    explain.add_argument("--baseline-to", dest="baseline_end", type=_timestamp, help="(default: the current start)")
    explain.add_argument(
        "--baseline",
        choices=("week", "yesterday", "before"),
        default="week",
        help="week: the 7 days before; yesterday: the same hours a day earlier; before: as many hours just before",
    )
    explain.add_argument(
        "--where", action="append", default=[], metavar="DIM=VALUE[,VALUE]", help="keep a slice (repeatable)"
    )
    explain.add_argument("--format", choices=("table", "json", "html"), default="table")
    explain.add_argument("--out", type=Path, help="write to this file instead of standard output")
    explain.set_defaults(handler=_explain)

    quality = commands.add_parser("quality", help="run the data-quality suites and write their HTML report")
    quality.add_argument("--db", type=Path, required=True, help="DuckDB warehouse file")
    quality.add_argument("--out", type=Path, default=Path("reports"), help="folder for quality.html (default: reports)")
    quality.set_defaults(handler=_quality)

    report = commands.add_parser("report", help="write the finance, health, war-room and progress pages (HTML)")
    report.add_argument("name", choices=("finance", "health", "warroom", "progress", "all"))
    report.add_argument("--db", type=Path, required=True, help="DuckDB warehouse file")
    report.add_argument("--out", type=Path, default=Path("reports"), help="folder for the pages (default: reports)")
    report.add_argument("--from", dest="start", type=_timestamp, help="window start (UTC, ISO 8601)")
    report.add_argument("--to", dest="end", type=_timestamp, help="window end (UTC, ISO 8601)")
    report.set_defaults(handler=_report)

    campaign = commands.add_parser("campaign", help="list, activate or deactivate (team, workload class) campaigns")
    campaign.add_argument("action", choices=("list", "activate", "deactivate"))
    campaign.add_argument("team", nargs="?")
    campaign.add_argument("workload_class", nargs="?")
    campaign.add_argument("--expected", type=int, help="jobs the campaign should run (activate)")
    campaign.add_argument("--db", type=Path, required=True, help="DuckDB warehouse file")
    campaign.set_defaults(handler=_campaign)

    metrics = commands.add_parser("metrics", help="list the metrics with owner, intent and description")
    metrics.add_argument("--format", choices=("table", "json"), default="table")
    metrics.set_defaults(handler=_metrics)

    alerts = commands.add_parser("alerts", help="the alert log: every alert the 5-minute ticks raised")
    alerts.add_argument("--db", type=Path, default=DEFAULT_DATA / "goodput.duckdb", help="DuckDB file")
    alerts.add_argument("--since", type=_timestamp, help="only alerts detected at or after this time")
    alerts.add_argument("--format", choices=("table", "json"), default="table")
    alerts.set_defaults(handler=_alerts)

    score = commands.add_parser("score", help="hold the alerts against the simulator's incident truth")
    score.add_argument("--db", type=Path, default=DEFAULT_DATA / "goodput.duckdb", help="DuckDB file")
    score.add_argument("--truth", type=Path, required=True, help="folder with incidents.json (or its _truth/)")
    score.add_argument("--format", choices=("table", "json"), default="table")
    score.set_defaults(handler=_score)

    drain = commands.add_parser("drain", help="GPUs a scheduler should drain, from quarantine and preempt alerts")
    drain.add_argument("--db", type=Path, default=DEFAULT_DATA / "goodput.duckdb", help="DuckDB file")
    drain.add_argument("--all", action="store_true", help="include entries whose cool-off has passed")
    drain.add_argument("--format", choices=("table", "json", "csv"), default="table")
    drain.set_defaults(handler=_drain)

    stragglers = commands.add_parser("stragglers", help="workers slower than their peers in distributed jobs")
    stragglers.add_argument("--db", type=Path, default=DEFAULT_DATA / "goodput.duckdb", help="DuckDB file")
    stragglers.add_argument("--format", choices=("table", "json"), default="table")
    stragglers.set_defaults(handler=_stragglers)

    exporter = commands.add_parser("exporter", help="serve goodput's KPIs as Prometheus metrics (/metrics)")
    exporter.add_argument("--db", type=Path, default=DEFAULT_DATA / "goodput.duckdb", help="published warehouse")
    exporter.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    exporter.add_argument("--port", type=int, default=9464, help="port (default 9464; 0 picks a free one)")
    exporter.set_defaults(handler=_exporter)

    monitoring = commands.add_parser(
        "monitoring-config", help="Prometheus rules and a Grafana dashboard generated from metrics/*.yml"
    )
    monitoring.add_argument("--out", type=Path, default=Path("monitoring"), help="folder to write (default monitoring)")
    monitoring.set_defaults(handler=_monitoring_config)

    tick = commands.add_parser("tick", help="one 5-minute tick: new data in, models updated, alerts judged and sent")
    tick.add_argument("--landing", type=Path, required=True, help="landing folder")
    tick.add_argument("--db", type=Path, help="DuckDB file (the DuckDB engine)")
    _engine_arguments(tick)
    tick.add_argument("--wait", type=float, help=WAIT_HELP)
    tick.add_argument("--timings", action="store_true", help="also print the seconds of each step, slowest first")
    tick.set_defaults(handler=_tick)

    ack = commands.add_parser("ack", help="acknowledge a page so that it does not escalate")
    ack.add_argument("alert_id")
    ack.add_argument("--db", type=Path, default=DEFAULT_DATA / "goodput.duckdb", help="DuckDB file")
    ack.add_argument("--by", default="oncall", help="who acknowledges")
    ack.set_defaults(handler=_ack)

    bench = commands.add_parser("bench", help="speed and memory on the default fleet, medians and ratios")
    bench.add_argument("--days", type=_day_list, default=[7],
                       help="days of the default fleet to simulate and ingest; several, comma-separated (7,30,90), "
                       "measure how each figure grows with history")  # fmt: skip
    bench.add_argument("--repeat", type=int, default=3, help="runs per figure (the median is reported)")
    bench.add_argument("--format", choices=("table", "json"), default="table")
    bench.add_argument("--no-spark", action="store_true", help="skip the Spark builds (minutes each)")
    bench.set_defaults(handler=_bench)
    return parser


def _load(path: Path | None, seed: int | None = None, days: int | None = None):
    from pipelines.simulate.scenario import load_scenario

    if path is None:
        with resources.as_file(resources.files("pipelines.config").joinpath("default_scenario.yml")) as default:
            scenario = load_scenario(default)
    else:
        scenario = load_scenario(path)
    updates = {k: v for k, v in (("seed", seed), ("days", days)) if v is not None}
    return scenario.model_copy(update=updates) if updates else scenario


def _simulate(args: argparse.Namespace) -> int:
    from pipelines.simulate.run import simulate
    from pipelines.simulate.shape import trace_shape

    scenario = _load(args.scenario, args.seed, args.days)
    started = time.perf_counter()
    summary = simulate(scenario, args.out, progress=not args.quiet)
    elapsed = time.perf_counter() - started
    print(
        f"simulated '{scenario.name}': {scenario.days} day(s) from {scenario.start:%Y-%m-%d %H:%M} UTC, "
        f"{summary.jobs:,} jobs, {summary.incidents} truth entries, in {elapsed:.1f} s -> {summary.out}"
    )
    _print_table(["source", "rows"], [[name, f"{rows:,}"] for name, rows in summary.rows.items()])
    shape = trace_shape(summary.out)
    print("trace shape: " + ", ".join(f"{k} {v:,.2f}" for k, v in shape.items() if v is not None))
    return 0


def _engine_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--engine", choices=("duckdb", "spark"), default="duckdb", help="where the models run")
    parser.add_argument("--warehouse", type=Path, help="with --engine spark: the folder of Parquet tables")
    parser.add_argument("--master", default="local[2]", help="with --engine spark: Spark master (default local[2])")


def _target(args: argparse.Namespace) -> Path:
    """The warehouse a command writes or reads: --db for DuckDB, --warehouse for Spark (each refused for the
    other engine, so a mistyped flag never builds into a surprise place)."""
    if args.engine == "spark":
        if args.warehouse is None:
            raise ValueError("--engine spark needs --warehouse DIR (the folder of Parquet tables)")
        return args.warehouse
    if args.warehouse is not None:
        raise ValueError("--warehouse is for --engine spark; the DuckDB engine takes --db FILE")
    if getattr(args, "db", None) is None:
        raise ValueError("the DuckDB engine needs --db FILE")
    return args.db


def _build(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from pipelines.orchestration.build import build, heavy_quarantine

    target = _target(args)
    started, since = time.perf_counter(), datetime.now(UTC).replace(tzinfo=None)
    if args.engine == "spark":
        return _spark_run(args, target, tick=False)
    loads = build(args.landing, target, progress=not args.quiet, wait_s=getattr(args, "wait", None))
    _print_loads(loads, target, time.perf_counter() - started)
    errors = heavy_quarantine(loads, target, since, getattr(args, "max_quarantined", None))
    for line in errors:
        print(line, file=sys.stderr)
    return 0 if all(load.reconciles for load in loads) and not errors else 1


def _quality(args: argparse.Namespace) -> int:
    from pipelines.quality.report import latest_results, render
    from pipelines.quality.suites import run_suites

    with _writing(args.db, "goodput quality") as con:
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


def _report(args: argparse.Namespace) -> int:
    from pipelines.reports.run import write_all, write_report

    with _open(args.db) as con:
        if args.name == "all":
            written = write_all(con, args.out, args.start, args.end)
        else:
            written = [write_report(con, args.name, args.out, args.start, args.end)]
    for page in written:
        print(
            f"{page.name:<9} {page.path}  ({page.render_s:.1f} s; data {page.data_from:%Y-%m-%d %H:%M} to "
            f"{page.data_to:%Y-%m-%d %H:%M} UTC)"
        )
    return 0


def _campaign(args: argparse.Namespace) -> int:
    from pipelines.reports.campaigns import TABLE, activate, register_new

    with _writing(args.db, "goodput campaign") as con:
        register_new(con)
        if args.action != "list":
            if not args.team or not args.workload_class:
                raise ValueError(f"campaign {args.action} needs TEAM and WORKLOAD_CLASS")
            activate(con, args.team, args.workload_class, args.expected, active=args.action == "activate")
        rows = con.sql(f"select * from {TABLE} order by is_active desc, team, workload_class").pl()
    _print_frame(rows, "table")
    return 0


def _explain(args: argparse.Namespace) -> int:
    from pipelines.explain.render import as_html, as_json, as_table
    from pipelines.explain.run import explain_db

    where: dict[str, list[str]] = {}
    for item in args.where:
        name, sep, values = item.partition("=")
        if not sep or not values:
            raise ValueError(f"--where {item!r}: expected DIM=VALUE or DIM=VALUE,VALUE")
        where.setdefault(name.strip(), []).extend(v.strip() for v in values.split(","))
    tree = explain_db(args.db, args.start, args.end, args.baseline_start, args.baseline_end, where, args.baseline)
    text = {"table": as_table, "json": as_json, "html": as_html}[args.format](tree)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        print(f"wrote {args.out}")
    else:
        print(text)
    return 0


def _ingest(args: argparse.Namespace) -> int:
    if args.from_prometheus:
        return _ingest_prometheus(args)
    if not args.format or not args.inputs:
        raise ValueError("give --format and FILE_OR_DIR, or --from-prometheus URL --since T")
    from pipelines.adapters.ingest import ingest

    summary = ingest(args.format, args.inputs, args.landing, at=args.at, region=args.region, node=args.node)
    print(
        f"{summary.format}: {summary.files} files, {summary.read:,} records read: "
        f"{summary.read - summary.ignored - summary.quarantined:,} used, {summary.ignored:,} ignored "
        f"(nothing in the contracts holds them), {summary.quarantined:,} quarantined"
    )
    for source, rows in sorted(summary.rows.items()):
        print(f"  {source}: {rows:,} rows -> {args.landing / source}")
    if summary.nothing_written:
        print(f"  nothing written: {summary.nothing_written}")
    return 0


def _ingest_prometheus(args: argparse.Namespace) -> int:
    from pipelines.adapters.prometheus_server import pull

    if args.since is None:
        raise ValueError("--from-prometheus needs --since (a later watermark of an earlier pull takes over)")
    summary = pull(
        args.from_prometheus, args.landing, args.since, args.until, _duration(args.step, "--step"), args.region,
        settle=_duration(args.settle, "--settle"),
    )  # fmt: skip
    rate = summary.samples / summary.seconds if summary.seconds else 0.0
    print(
        f"prometheus {summary.url}: {', '.join(summary.exporters) or 'no known exporter series'}; "
        f"{summary.samples:,} samples in {summary.seconds:.1f} s ({rate:,.0f}/s); {summary.read:,} records read: "
        f"{summary.read - summary.ignored - summary.quarantined:,} used, {summary.ignored:,} ignored, "
        f"{summary.quarantined:,} quarantined"
    )
    for source, rows in sorted(summary.rows.items()):
        print(f"  {source}: {rows:,} rows -> {args.landing / source}")
    return 0


def _duration(text: str, flag: str):
    from datetime import timedelta

    units = {"s": 1, "m": 60, "h": 3600}
    try:
        seconds = float(text[:-1]) * units[text[-1]] if text[-1] in units else float(text)
    except (ValueError, IndexError):
        raise ValueError(f"{flag} {text!r}: expected a duration like 60s, 1m or 15") from None
    if seconds <= 0 and flag == "--step":
        raise ValueError(f"{flag} {text!r}: must be positive")
    return timedelta(seconds=seconds)


def _run(args: argparse.Namespace) -> int:
    landing, db = args.data / "landing", args.data / "goodput.duckdb"
    code = _simulate(argparse.Namespace(scenario=args.scenario, out=landing, seed=None, days=None, quiet=args.quiet))
    code = code or _build(argparse.Namespace(landing=landing, db=db, quiet=args.quiet, wait=None, max_quarantined=None))
    if code == 0:
        _print_north_star(db)
        _print_open_alerts(db)
        print("\nreports:")
        code = _report(argparse.Namespace(name="all", db=db, out=args.data / "reports", start=None, end=None))
    return code


def _print_north_star(db: Path) -> None:
    from pipelines.semantic.query import query

    factors = ["goodput", "availability", "allocation", "retention", "step_efficiency"]
    print("\nthe north star by day (goodput = availability x allocation x retention x step efficiency):")
    _print_frame(query(factors, grain="day", db=db), "table")


def _open(db: Path):
    """The published warehouse, read-only: never blocked by a writer, never blocking one."""
    from pipelines.ingest.load import connect

    if not db.exists():
        raise ValueError(f"no warehouse at {db} (run `goodput build` first)")
    return connect(db, read_only=True)


@contextmanager
def _writing(db: Path, what: str):
    """The working file under the writer lock; what the command changed is published when it ends."""
    from pipelines.ingest.load import connect
    from pipelines.warehouse import Layout, writer_lock
    from pipelines.warehouse.publish import TIMED_UNCHANGED, publish

    layout = Layout.of(db)
    if not db.exists() and not layout.work.exists():
        raise ValueError(f"no warehouse at {db} (run `goodput build` first)")
    with writer_lock(layout, what):
        layout.adopt_legacy_file()
        with connect(layout.work) as con:
            yield con
            publish(con, layout, TIMED_UNCHANGED)


def _alerts(args: argparse.Namespace) -> int:
    from pipelines.detect.store import read_alerts

    with _open(args.db) as con:
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
    _print_frame(frame.select(columns), "table")
    return 0


def _print_open_alerts(db: Path) -> None:
    import polars as pl

    from pipelines.detect.store import read_alerts

    with _open(db) as con:
        frame = read_alerts(con)
    open_ = frame.filter(pl.col("resolved_at").is_null() & pl.col("intent").is_in(["page", "ticket"]))
    pages = frame.filter(pl.col("intent") == "page")
    print(f"\nalerts: {len(frame)} raised over the data ({len(pages)} pages); {len(open_)} open pages and tickets:")
    if len(open_):
        _print_frame(open_.select("detected_at", "intent", "family", "rule", "summary"), "table")
    print(f"  (`goodput alerts --db {db}` lists every alert with its runbook)")


def _score(args: argparse.Namespace) -> int:
    import json

    from pipelines.detect.score import score

    with _open(args.db) as con:
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
            _opt(r["latency_min"], "{:.0f}"),
            r["alert_rule"] or "",
            r["alert_family"] or "",
            "yes" if r["family_match"] else "no",
        ]
        for r in result["incidents"]
    ]
    _print_table(header, rows)
    print("summary: " + ", ".join(f"{k} {v}" for k, v in result["summary"].items()))
    for page in result["false_pages"]:
        print(f"false page: {page['detected_at']} {page['rule']}: {page['summary']}")
    return 0


def _stored(db: Path, table: str, what: str, order: str):
    """A table detection wrote, or an error that says to build first."""
    from pipelines.catalog import table_exists
    from pipelines.detect.warehouse import fetch

    schema, name = table.split(".")
    with _open(db) as con:
        if not table_exists(con, schema, name):
            raise ValueError(f"the warehouse has no {what}: run `goodput build` first")
        return fetch(con, f"select * from {table} order by {order}")


def _drain(args: argparse.Namespace) -> int:
    import polars as pl

    frame = _stored(args.db, "marts.fct_gpus__drain_list", "drain list", "gpu_id")
    _print_frame(frame if args.all else frame.filter(pl.col("is_active")), args.format)
    return 0


def _stragglers(args: argparse.Namespace) -> int:
    frame = _stored(args.db, "alerts.stragglers", "straggler list", "started_at, job_id, worker")
    _print_frame(frame, args.format)
    return 0


def _exporter(args: argparse.Namespace) -> int:
    from pipelines.monitoring.exporter import serve

    if not args.db.exists():
        raise ValueError(f"no warehouse at {args.db} (run `goodput build` first)")
    try:
        serve(args.db, args.host, args.port)
    except KeyboardInterrupt:
        pass
    return 0


def _monitoring_config(args: argparse.Namespace) -> int:
    from pipelines.monitoring.config import write

    for path in write(args.out):
        print(f"wrote {path}")
    return 0


def _tick(args: argparse.Namespace) -> int:
    from pipelines.orchestration.tick import tick

    target = _target(args)
    if args.engine == "spark":
        return _spark_run(args, target, tick=True)
    result = tick(args.landing, target, wait_s=args.wait)
    steps = result.pop("steps_s")
    print(", ".join(f"{k} {v}" for k, v in result.items()))
    if args.timings:
        for name, seconds in steps.items():
            if seconds >= 0.005:
                print(f"  {seconds:8.3f} s  {name}")
    return 0


def _spark_run(args: argparse.Namespace, target: Path, tick: bool) -> int:
    """A build or tick on Spark: what the contracts loaded, the window, the seconds of each step; a build that
    quarantined too much of a source fails naming it, as on DuckDB."""
    from datetime import UTC, datetime

    from pipelines.orchestration.build import heavy_quarantine
    from pipelines.spark.build import build_spark, tick_spark
    from pipelines.spark.folder import SparkFolder

    since = datetime.now(UTC).replace(tzinfo=None)
    run = (tick_spark if tick else build_spark)(
        args.landing, target, master=args.master, progress=not getattr(args, "quiet", True), wait_s=args.wait
    )
    for load in run.loads:
        mark = "" if load.reconciles else "  DOES NOT RECONCILE"
        print(
            f"{load.source:<18} files {load.new_files:>4} new  landed {load.landed:>10,}  accepted {load.accepted:>10,}"
            f"  quarantined {load.quarantined:>8,}{mark}"
        )
    window = "everything" if run.window is None else f"{run.window[0]:%Y-%m-%d %H:%M} on"
    if run.lost_from is not None:
        window += f" (lost work from {run.lost_from:%Y-%m-%d %H:%M})"
    steps = ", ".join(f"{k} {v:.1f} s" for k, v in run.seconds.items())
    print(f"spark {args.master}: {run.models} models over {window} into {target}; data ends {run.data_end}; {steps}")
    errors = [] if tick else heavy_quarantine(run.loads, SparkFolder.of(target).ledger.published, since,
                                              getattr(args, "max_quarantined", None))  # fmt: skip
    for line in errors:
        print(line, file=sys.stderr)
    return 0 if all(load.reconciles for load in run.loads) and not errors else 1


def _ack(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from pipelines.detect.routing import acknowledge

    with _writing(args.db, "goodput ack") as con:
        acknowledge(con, args.alert_id, args.by, datetime.now(UTC).replace(tzinfo=None))
    print(f"acknowledged {args.alert_id}")
    return 0


def _timestamp(text: str):
    from datetime import UTC, datetime

    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an ISO time like 2026-03-02T00:00:00Z") from None
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _query(args: argparse.Namespace) -> int:
    from pipelines.semantic.query import query

    where = {}
    for item in args.where:
        dim, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--where '{item}' is not DIM=VALUE")
        where[dim.strip()] = value.strip()
    by = [d.strip() for d in args.by.split(",") if d.strip()]
    if args.engine == "spark":
        target = _target(args)
        frame = query(args.metrics, by=by, grain=args.grain, start=args.start, end=args.end, where=where,
                      engine="spark", warehouse=target, master=args.master)  # fmt: skip
        _print_frame(frame, args.format)
        return 0
    if args.warehouse is not None:
        raise ValueError("--warehouse is for --engine spark; the DuckDB engine takes --db FILE")
    if not args.db.exists():
        raise ValueError(f"no warehouse at {args.db} (run `goodput build` first)")
    frame = query(args.metrics, by=by, grain=args.grain, start=args.start, end=args.end, where=where, db=args.db)
    _print_frame(frame, args.format)
    return 0


def _print_frame(frame, fmt: str) -> None:
    import json

    import polars as pl

    frame = frame.with_columns(pl.col(pl.Datetime).dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    if fmt == "json":
        print(json.dumps(frame.to_dicts(), indent=1))
    elif fmt == "csv":
        print(frame.write_csv(), end="")
    else:
        rows = [
            [f"{v:.4f}" if isinstance(v, float) else ("" if v is None else str(v)) for v in row]
            for row in frame.iter_rows()
        ]
        _print_table(frame.columns, rows)


def _metrics(args: argparse.Namespace) -> int:
    import json

    from pipelines.semantic.catalog import load_catalog

    catalog = load_catalog()
    if args.format == "json":
        print(json.dumps([m.model_dump() for m in catalog.values()], indent=1))
        return 0
    rows = [[m.name, m.owner, m.timing, m.intent, m.type, _shorten(m.description, 90)] for m in catalog.values()]
    _print_table(["metric", "owner", "timing", "intent", "type", "description"], rows)
    return 0


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _day_list(text: str) -> list[int]:
    try:
        days = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected whole days, comma-separated (7,30,90)") from None
    if not days or min(days) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected whole days of at least 1")
    return days


def _bench(args: argparse.Namespace) -> int:
    from bench.harness import machine, to_json
    from bench.run import run_bench

    result = run_bench(days=args.days, repeat=args.repeat, spark=not args.no_spark and _spark_available())
    if args.format == "json":
        print(to_json(result))
        return 0
    print("machine: " + ", ".join(f"{k} {v}" for k, v in machine().items()))
    verdict = {True: "ok", False: "MISSED", None: ""}
    _print_table(
        [
            "figure",
            "median s",
            "runs s",
            "target s",
            "peak MiB",
            "baseline",
            "baseline s",
            "ratio",
            "target x",
            "rows/s",
            "targets",
        ],  # fmt: skip
        [
            [
                f.name,
                f"{f.median_s:.2f}",
                " ".join(f"{r:.2f}" for r in f.runs_s),
                _opt(f.target_s, "{:.1f}"),
                f"{f.peak_rss_mib:,.0f}",
                f.baseline or "",
                _opt(f.baseline_median_s, "{:.2f}"),
                _opt(f.ratio, "{:.2f}x"),
                _opt(f.target_ratio, "{:.1f}x"),
                _opt(f.rows_per_s, "{:,.0f}"),
                verdict[f.meets],
            ]
            for f in result.figures
        ],
    )
    _print_table(
        ["days", "landing MiB", "working file MiB", "published MiB", "warehouse MiB"],
        [[str(d), *(f"{v:,.0f}" for v in size.values())] for d, size in result.sizes.items()],
    )
    if result.year:
        year = result.year
        print(
            f"a year (from {year['from_days'][0]} and {year['from_days'][1]} days): "
            f"warehouse {year['warehouse_gb']} GB, "
            f"landing {year['landing_gb']} GB, full build {year['build_s']:,.0f} s; "
            f"{'fits' if year['fits'] else 'does not fit'} a {year['fits_disk_gb']:.0f} GB disk"
        )
    return 0


def _spark_available() -> bool:
    import importlib.util
    import shutil

    found = importlib.util.find_spec("pyspark") is not None and bool(
        os.environ.get("JAVA_HOME") or shutil.which("java")
    )
    if not found:
        print("bench: no PySpark or no Java: the Spark builds are skipped", file=sys.stderr)
    return found


def _opt(value: float | None, fmt: str) -> str:
    return "" if value is None else fmt.format(value)


def _print_loads(loads, db: Path, elapsed: float) -> None:
    rows = [
        [
            x.source,
            x.new_files,
            x.skipped_files,
            f"{x.landed:,}",
            f"{x.accepted:,}",
            f"{x.quarantined:,}",
            f"{x.total_rows:,}",
            "yes" if x.reconciles else "NO",
        ]
        for x in loads
    ]
    print(f"built {db} in {elapsed:.1f} s")
    _print_table(
        ["source", "new files", "unchanged", "landed", "accepted", "quarantined", "rows in raw", "reconciles"], rows
    )
    for load in loads:
        for bad in load.unreadable:
            print(f"unreadable file ({load.source}): {bad['file']}: {bad['error']}")


def _print_table(header: list[str], rows: list[list]) -> None:
    cells = [header] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for index, row in enumerate(cells):
        print("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))))
        if index == 0:
            print("  ".join("-" * w for w in widths))


if __name__ == "__main__":
    sys.exit(main())
