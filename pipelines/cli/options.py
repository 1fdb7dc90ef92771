"""The options several commands share, declared once: the warehouse file, the engine, the output format, times,
durations and `--where` filters."""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_DATA = Path("data")
DEFAULT_DB = DEFAULT_DATA / "goodput.duckdb"
WAIT_HELP = "seconds to wait for another writer to finish (default: GOODPUT_WRITER_WAIT or 240)"


def add_db(parser: argparse.ArgumentParser, *, required: bool = False, default: Path | None = DEFAULT_DB,
           help: str = "DuckDB warehouse file") -> None:  # fmt: skip
    """`--db`: required, defaulted to data/goodput.duckdb, or (default=None) left to the engine to demand."""
    if required:
        parser.add_argument("--db", type=Path, required=True, help=help)
    else:
        parser.add_argument("--db", type=Path, default=default, help=help)


def add_format(parser: argparse.ArgumentParser, *choices: str) -> None:
    parser.add_argument("--format", choices=choices, default=choices[0])


def add_engine(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--engine", choices=("duckdb", "spark"), default="duckdb", help="where the models run")
    parser.add_argument("--warehouse", type=Path, help="with --engine spark: the folder of Parquet tables")
    parser.add_argument("--master", default="local[2]", help="with --engine spark: Spark master (default local[2])")


def add_where(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--where", action="append", default=[], metavar="DIM=VALUE[,VALUE]", help=help)


def target(args: argparse.Namespace) -> Path:
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


def where_filters(items: list[str]) -> dict[str, list[str]]:
    """`--where DIM=VALUE[,VALUE]`, repeatable: the values a dimension may take (a dimension given twice keeps
    both lists)."""
    where: dict[str, list[str]] = {}
    for item in items:
        name, sep, text = item.partition("=")
        values = [v.strip() for v in text.split(",") if v.strip()]
        if not sep or not name.strip() or not values:
            raise ValueError(f"--where {item!r}: expected DIM=VALUE or DIM=VALUE,VALUE")
        where.setdefault(name.strip(), []).extend(values)
    return where


def timestamp(text: str):
    from datetime import UTC, datetime

    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an ISO time like 2026-03-02T00:00:00Z") from None
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def duration(text: str, flag: str):
    from datetime import timedelta

    units = {"s": 1, "m": 60, "h": 3600}
    try:
        seconds = float(text[:-1]) * units[text[-1]] if text[-1] in units else float(text)
    except (ValueError, IndexError):
        raise ValueError(f"{flag} {text!r}: expected a duration like 60s, 1m or 15") from None
    if seconds <= 0 and flag == "--step":
        raise ValueError(f"{flag} {text!r}: must be positive")
    return timedelta(seconds=seconds)


def day_list(text: str) -> list[int]:
    try:
        days = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected whole days, comma-separated (7,30,90)") from None
    if not days or min(days) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected whole days of at least 1")
    return days
