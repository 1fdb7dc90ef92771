"""The warehouse as a Dagster resource: where the DuckDB file and the landing folder are."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import duckdb
from dagster import ConfigurableResource

from pipelines.ingest.load import connect

DEFAULT_DB = "data/goodput.duckdb"
DEFAULT_LANDING = "data/landing"
DEFAULT_REPORTS = "data/reports"


class Warehouse(ConfigurableResource):
    """One DuckDB file (one writer at a time) fed from one landing folder."""

    db_path: str = os.environ.get("GOODPUT_DB", DEFAULT_DB)
    landing_dir: str = os.environ.get("GOODPUT_LANDING", DEFAULT_LANDING)
    reports_dir: str = os.environ.get("GOODPUT_REPORTS", DEFAULT_REPORTS)
    # an incremental run recomputes only [window_start, window_end) of incremental models (ISO times; empty: all)
    window_start: str = ""
    window_end: str = ""
    lost_from: str = ""  # and, before the window, the work lost by jobs that failed in it (ISO time; empty: none)

    @property
    def window(self) -> tuple[datetime, datetime] | None:
        if not self.window_start or not self.window_end:
            return None
        return datetime.fromisoformat(self.window_start), datetime.fromisoformat(self.window_end)

    @property
    def lost_since(self) -> datetime | None:
        return datetime.fromisoformat(self.lost_from) if self.lost_from else None

    def connect(self, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        return connect(self.db_path, read_only=read_only)

    @property
    def landing(self) -> Path:
        return Path(self.landing_dir)
