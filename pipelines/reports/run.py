"""Write reports from a warehouse: one by name or all of them with the index, timing each page's render."""

from __future__ import annotations

import html
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from pipelines.project_files import project_dir
from pipelines.reports import finance, health, index, progress, warroom
from pipelines.reports.data import window_or_default
from pipelines.reports.settings import reports_config

NAMES = ("finance", "health", "warroom", "progress")
RUNBOOKS = project_dir("docs", "runbooks")


@dataclass(frozen=True)
class Written:
    name: str
    path: Path
    render_s: float
    data_from: datetime
    data_to: datetime


def write_report(
    con: duckdb.DuckDBPyConnection,
    name: str,
    out: Path,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Written:
    """One report into `out`; the window defaults per report (health: the last 12 hours; warroom: the largest
    goodput drop; finance and progress: all the data)."""
    if name not in NAMES:
        raise ValueError(f"unknown report {name!r}; valid: {', '.join(NAMES)}, all")
    began = time.perf_counter()
    if name == "finance":
        page = finance.build(con, window_or_default(con, start, end, None), out)
    elif name == "health":
        _copy_runbooks(out)
        page = health.build(con, window_or_default(con, start, end, reports_config().health_hours))
    elif name == "warroom":
        page = warroom.build(con, warroom.incident_window(con, start, end))
    else:
        page = progress.build(con, window_or_default(con, start, end, None))
    path = page.write(out)
    return Written(name, path, time.perf_counter() - began, page.data_from, page.data_to)


def write_all(
    con: duckdb.DuckDBPyConnection, out: Path, start: datetime | None = None, end: datetime | None = None
) -> list[Written]:
    """Every report and the index page that links them, with the time of the data each shows."""
    written = [write_report(con, name, out, start, end) for name in NAMES]
    began = time.perf_counter()
    path = index.build(written, con).write(out)
    written.append(Written("index", path, time.perf_counter() - began, written[0].data_from, written[0].data_to))
    return written


def _copy_runbooks(out: Path) -> None:
    """The alert log links each alert to its runbook beside the page (as HTML, which any browser shows from disk)."""
    folder = out / "runbooks"
    folder.mkdir(parents=True, exist_ok=True)
    for source in sorted(RUNBOOKS.glob("*.md")):
        text = html.escape(source.read_text(encoding="utf-8"))
        (folder / f"{source.stem}.html").write_text(
            f"<!doctype html><meta charset='utf-8'><title>{source.stem}</title>"
            f"<pre style='white-space:pre-wrap;font:14px/1.5 system-ui;max-width:60rem;margin:2rem'>{text}</pre>",
            encoding="utf-8",
        )
