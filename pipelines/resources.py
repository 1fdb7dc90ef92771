"""The warehouse as a Dagster resource: where the published DuckDB path and the landing folder are."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import duckdb
from dagster import ConfigurableResource

from pipelines.warehouse import Layout, writer_lock
from pipelines.warehouse.connection import connect

DEFAULT_DB = "data/goodput.duckdb"
DEFAULT_LANDING = "data/landing"
DEFAULT_REPORTS = "data/reports"


class Warehouse(ConfigurableResource):
    """One published warehouse (readers) and its working file (one writer at a time), fed from one landing folder."""

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

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The working file, under the writer lock (held once by a whole build or tick that runs this asset)."""
        layout = Layout.of(self.db_path)
        with writer_lock(layout, "dagster asset"):
            layout.adopt_legacy_file()
            layout.unpublished.touch()  # an asset may change any table: the next publish rewrites every part
            con = connect(layout.work)
            try:
                yield con
            finally:
                con.close()

    def read(self) -> duckdb.DuckDBPyConnection:
        """The published snapshot, read-only: what readers (the report pages) see."""
        return connect(self.db_path, read_only=True)

    @property
    def landing(self) -> Path:
        return Path(self.landing_dir)
