"""`goodput bench`: the harness lives in the top-level `bench/` folder; this prints what it measured."""

from __future__ import annotations

import argparse
import os
import sys

from pipelines.cli.options import add_format, day_list
from pipelines.cli.output import optional, print_table

HEADER = ["figure", "median s", "runs s", "target s", "peak MiB", "baseline", "baseline s", "ratio", "target x",
          "rows/s", "targets"]  # fmt: skip
VERDICT = {True: "ok", False: "MISSED", None: ""}


def register(commands) -> None:
    bench = commands.add_parser("bench", help="speed and memory on the default fleet, medians and ratios")
    bench.add_argument("--days", type=day_list, default=[7],
                       help="days of the default fleet to simulate and ingest; several, comma-separated (7,30,90), "
                       "measure how each figure grows with history")  # fmt: skip
    bench.add_argument("--repeat", type=int, default=3, help="runs per figure (the median is reported)")
    add_format(bench, "table", "json")
    bench.add_argument("--no-spark", action="store_true", help="skip the Spark builds (minutes each)")
    bench.set_defaults(handler=_bench)


def _bench(args: argparse.Namespace) -> int:
    from bench.harness import machine, to_json
    from bench.run import run_bench

    result = run_bench(days=args.days, repeat=args.repeat, spark=not args.no_spark and _spark_available())
    if args.format == "json":
        print(to_json(result))
        return 1 if result.failures else 0
    print("machine: " + ", ".join(f"{k} {v}" for k, v in machine().items()))
    print_table(
        HEADER,
        [
            [
                f.name,
                f"{f.median_s:.2f}",
                " ".join(f"{r:.2f}" for r in f.runs_s),
                optional(f.target_s, "{:.1f}"),
                f"{f.peak_rss_mib:,.0f}",
                f"{f.baseline or ''} ({f.baseline_error})".strip() if f.baseline_error else f.baseline or "",
                optional(f.baseline_median_s, "{:.2f}"),
                optional(f.ratio, "{:.2f}x"),
                optional(f.target_ratio, "{:.1f}x"),
                optional(f.rows_per_s, "{:,.0f}"),
                VERDICT[f.meets],
            ]
            for f in result.figures
        ],
    )
    print_table(
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
    for days, why in result.failures.items():
        print(f"{days} days: no figures past this: {why}")
    return 1 if result.failures else 0


def _spark_available() -> bool:
    import importlib.util
    import shutil

    found = importlib.util.find_spec("pyspark") is not None and bool(
        os.environ.get("JAVA_HOME") or shutil.which("java")
    )
    if not found:
        print("bench: no PySpark or no Java: the Spark builds are skipped", file=sys.stderr)
    return found
