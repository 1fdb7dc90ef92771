"""The commands that move data in: `run`, `simulate`, `build`, `ingest` and `tick` (on DuckDB or Spark)."""

from __future__ import annotations

import argparse
import sys
import time
from importlib import resources
from pathlib import Path

from pipelines.adapters.registry import FORMATS, formats_help
from pipelines.cli.options import DEFAULT_DATA, WAIT_HELP, add_db, add_engine, duration, target, timestamp
from pipelines.cli.output import print_table


def register(commands) -> None:
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
    add_db(build, default=None, help="DuckDB file to build into (the DuckDB engine)")
    add_engine(build)
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
    ingest.add_argument("--since", type=timestamp, help="with --from-prometheus: start (or its watermark if later)")
    ingest.add_argument("--until", type=timestamp, help="with --from-prometheus: end (default: --settle before now)")
    ingest.add_argument(
        "--settle", default="5m", help="with --from-prometheus: how late a sample may reach the server (default 5m)"
    )
    ingest.add_argument(
        "--step", default="60s", help="with --from-prometheus: resolution, e.g. 60s or 1m (default 60s)"
    )
    ingest.add_argument("--landing", type=Path, required=True, help="landing folder to write")
    ingest.add_argument(
        "--at",
        type=timestamp,
        help="scrape time for scrapes without one; for step-times without ts, the run's start (default: file name, "
        "else mtime: a step log ends when it was last written)",
    )
    ingest.add_argument("--region", default="default", help="region of the GPUs and nodes read (default: default)")
    ingest.add_argument("--node", help="host name for nvidia-smi output (default: the file name's first part)")
    ingest.set_defaults(handler=_ingest)

    tick = commands.add_parser("tick", help="one 5-minute tick: new data in, models updated, alerts judged and sent")
    tick.add_argument("--landing", type=Path, required=True, help="landing folder")
    add_db(tick, default=None, help="DuckDB file (the DuckDB engine)")
    add_engine(tick)
    tick.add_argument("--wait", type=float, help=WAIT_HELP)
    tick.add_argument("--timings", action="store_true", help="also print the seconds of each step, slowest first")
    tick.set_defaults(handler=_tick)


def _run(args: argparse.Namespace) -> int:
    from pipelines.cli.alerting import print_open_alerts
    from pipelines.cli.analysis import print_north_star, write_reports

    landing, db = args.data / "landing", args.data / "goodput.duckdb"
    code = simulate_scenario(args.scenario, landing, quiet=args.quiet)
    code = code or build_duckdb(landing, db, quiet=args.quiet)
    if code == 0:
        print_north_star(db)
        print_open_alerts(db)
        print("\nreports:")
        write_reports(db, "all", args.data / "reports")
    return code


def _simulate(args: argparse.Namespace) -> int:
    return simulate_scenario(args.scenario, args.out, args.seed, args.days, args.quiet)


def simulate_scenario(
    path: Path | None, out: Path, seed: int | None = None, days: int | None = None, quiet: bool = False
) -> int:
    from pipelines.simulate.run import simulate
    from pipelines.simulate.shape import trace_shape

    scenario = load_scenario_or_default(path, seed, days)
    started = time.perf_counter()
    summary = simulate(scenario, out, progress=not quiet)
    elapsed = time.perf_counter() - started
    print(
        f"simulated '{scenario.name}': {scenario.days} day(s) from {scenario.start:%Y-%m-%d %H:%M} UTC, "
        f"{summary.jobs:,} jobs, {summary.incidents} truth entries, in {elapsed:.1f} s -> {summary.out}"
    )
    print_table(["source", "rows"], [[name, f"{rows:,}"] for name, rows in summary.rows.items()])
    shape = trace_shape(summary.out)
    print("trace shape: " + ", ".join(f"{k} {v:,.2f}" for k, v in shape.items() if v is not None))
    return 0


def load_scenario_or_default(path: Path | None, seed: int | None = None, days: int | None = None):
    from pipelines.simulate.scenario import load_scenario

    if path is None:
        with resources.as_file(resources.files("pipelines.config").joinpath("default_scenario.yml")) as default:
            scenario = load_scenario(default)
    else:
        scenario = load_scenario(path)
    updates = {k: v for k, v in (("seed", seed), ("days", days)) if v is not None}
    return scenario.model_copy(update=updates) if updates else scenario


def _build(args: argparse.Namespace) -> int:
    destination = target(args)
    if args.engine == "spark":
        return _spark_run(args, destination, tick=False)
    return build_duckdb(args.landing, destination, args.quiet, args.wait, args.max_quarantined)


def build_duckdb(
    landing: Path, db: Path, quiet: bool = False, wait_s: float | None = None, max_quarantined: float | None = None
) -> int:
    """Exit 1 when a source does not reconcile or quarantined more than its share."""
    from datetime import UTC, datetime

    from pipelines.orchestration.build import build, heavy_quarantine

    started, since = time.perf_counter(), datetime.now(UTC).replace(tzinfo=None)
    loads = build(landing, db, progress=not quiet, wait_s=wait_s)
    _print_loads(loads, db, time.perf_counter() - started)
    errors = heavy_quarantine(loads, db, since, max_quarantined)
    for line in errors:
        print(line, file=sys.stderr)
    return 0 if all(load.reconciles for load in loads) and not errors else 1


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
    print_table(
        ["source", "new files", "unchanged", "landed", "accepted", "quarantined", "rows in raw", "reconciles"], rows
    )
    for load in loads:
        for bad in load.unreadable:
            print(f"unreadable file ({load.source}): {bad['file']}: {bad['error']}")


def _ingest(args: argparse.Namespace) -> int:
    if args.from_prometheus:
        return _ingest_prometheus(args)
    if not args.format or not args.inputs:
        raise ValueError("give --format and FILE_OR_DIR, or --from-prometheus URL --since T")
    from pipelines.adapters.exporter_files import ingest

    summary = ingest(args.format, args.inputs, args.landing, at=args.at, region=args.region, node=args.node)
    print(
        f"{summary.format}: {summary.files} files, {summary.read:,} records read: "
        f"{summary.read - summary.ignored - summary.quarantined:,} used, {summary.ignored:,} ignored "
        f"(nothing in the contracts holds them), {summary.quarantined:,} quarantined"
    )
    _print_rows_written(summary.rows, args.landing)
    if summary.nothing_written:
        print(f"  nothing written: {summary.nothing_written}")
    return 0


def _ingest_prometheus(args: argparse.Namespace) -> int:
    from pipelines.adapters.prometheus_server import pull

    if args.since is None:
        raise ValueError("--from-prometheus needs --since (a later watermark of an earlier pull takes over)")
    summary = pull(
        args.from_prometheus, args.landing, args.since, args.until, duration(args.step, "--step"), args.region,
        settle=duration(args.settle, "--settle"),
    )  # fmt: skip
    rate = summary.samples / summary.seconds if summary.seconds else 0.0
    print(
        f"prometheus {summary.url}: {', '.join(summary.exporters) or 'no known exporter series'}; "
        f"{summary.samples:,} samples in {summary.seconds:.1f} s ({rate:,.0f}/s); {summary.read:,} records read: "
        f"{summary.read - summary.ignored - summary.quarantined:,} used, {summary.ignored:,} ignored, "
        f"{summary.quarantined:,} quarantined"
    )
    _print_rows_written(summary.rows, args.landing)
    return 0


def _print_rows_written(rows: dict[str, int], landing: Path) -> None:
    for source, count in sorted(rows.items()):
        print(f"  {source}: {count:,} rows -> {landing / source}")


def _tick(args: argparse.Namespace) -> int:
    from pipelines.orchestration.tick import tick

    destination = target(args)
    if args.engine == "spark":
        return _spark_run(args, destination, tick=True)
    result = tick(args.landing, destination, wait_s=args.wait)
    steps = result.pop("steps_s")
    print(", ".join(f"{k} {v}" for k, v in result.items()))
    if args.timings:
        for name, seconds in steps.items():
            if seconds >= 0.005:
                print(f"  {seconds:8.3f} s  {name}")
    return 0


def _spark_run(args: argparse.Namespace, destination: Path, tick: bool) -> int:
    """A build or tick on Spark: what the contracts loaded, the window, the seconds of each step; a build that
    quarantined too much of a source fails naming it, as on DuckDB."""
    from datetime import UTC, datetime

    from pipelines.orchestration.build import heavy_quarantine
    from pipelines.spark.build import build_spark, tick_spark
    from pipelines.spark.folder import SparkFolder

    since = datetime.now(UTC).replace(tzinfo=None)
    run = (tick_spark if tick else build_spark)(
        args.landing, destination, master=args.master, progress=not getattr(args, "quiet", True), wait_s=args.wait
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
    print(
        f"spark {args.master}: {run.models} models over {window} into {destination}; data ends {run.data_end}; {steps}"
    )
    errors = [] if tick else heavy_quarantine(run.loads, SparkFolder.of(destination).ledger.published, since,
                                              getattr(args, "max_quarantined", None))  # fmt: skip
    for line in errors:
        print(line, file=sys.stderr)
    return 0 if all(load.reconciles for load in run.loads) and not errors else 1
