"""The commands that feed the tools a platform team already runs: `exporter` (Prometheus scrapes it) and
`monitoring-config` (Prometheus rules, Alertmanager routes, a Grafana dashboard)."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipelines.cli.options import add_db


def register(commands) -> None:
    exporter = commands.add_parser("exporter", help="serve goodput's KPIs as Prometheus metrics (/metrics)")
    add_db(exporter, help="published warehouse")
    exporter.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    exporter.add_argument("--port", type=int, default=9464, help="port (default 9464; 0 picks a free one)")
    exporter.set_defaults(handler=_exporter)

    monitoring = commands.add_parser(
        "monitoring-config", help="Prometheus rules and a Grafana dashboard generated from metrics/*.yml"
    )
    monitoring.add_argument("--out", type=Path, default=Path("monitoring"), help="folder to write (default monitoring)")
    monitoring.set_defaults(handler=_monitoring_config)


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
