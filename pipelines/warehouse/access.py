"""How a command reaches the warehouse: readers open the published snapshot read-only (never blocked by a writer,
never blocking one); writers take the writer lock, work in the private file and publish what they changed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from pipelines.warehouse.connection import connect
from pipelines.warehouse.layout import Layout
from pipelines.warehouse.lock import writer_lock


def read_published(db: Path) -> duckdb.DuckDBPyConnection:
    if not db.exists():
        raise ValueError(f"no warehouse at {db} (run `goodput build` first)")
    return connect(db, read_only=True)


@contextmanager
def writing(db: Path, what: str) -> Iterator[duckdb.DuckDBPyConnection]:
    from pipelines.warehouse.publish import TIMED_UNCHANGED, publish

    layout = Layout.of(db)
    if not db.exists() and not layout.work.exists():
        raise ValueError(f"no warehouse at {db} (run `goodput build` first)")
    with writer_lock(layout, what):
        layout.adopt_legacy_file()
        with connect(layout.work) as con:
            yield con
            publish(con, layout, TIMED_UNCHANGED)
