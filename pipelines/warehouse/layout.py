"""The files behind one published warehouse path.

`data/goodput.duckdb` (the path every reader and example uses) is a link to the newest snapshot; the state folder
beside it, `data/goodput.duckdb.state/`, holds the writers' working file, the writer lock, the snapshots and their
Parquet parts. Everything lives on one filesystem, so that the link swap is an atomic rename.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Layout:
    published: Path

    @classmethod
    def of(cls, published: str | Path) -> Layout:
        return cls(Path(os.path.abspath(published)))

    @property
    def state(self) -> Path:
        return self.published.with_name(self.published.name + ".state")

    @property
    def work(self) -> Path:
        """The writers' DuckDB file: every schema, raw included; only a holder of the writer lock opens it."""
        return self.state / "work.duckdb"

    @property
    def lock(self) -> Path:
        return self.state / "writer.lock"

    @property
    def unpublished(self) -> Path:
        """A mark left by a writer that may change any table (a Dagster materialisation, a build) until a full
        publish removes it: a tick that finds it publishes every part, not only its window's."""
        return self.state / "unpublished"

    @property
    def snapshots(self) -> Path:
        return self.state / "snapshots"

    @property
    def parts(self) -> Path:
        return self.state / "parts"

    def snapshot(self, generation: int) -> Path:
        return self.snapshots / f"g{generation:06d}.duckdb"

    def manifest(self, generation: int) -> Path:
        return self.snapshots / f"g{generation:06d}.json"

    def current_generation(self) -> int | None:
        """The generation the published link points to, or None before the first publish."""
        if not self.published.is_symlink():
            return None
        target = Path(os.readlink(self.published)).name
        return int(target[1:7]) if target.startswith("g") and target.endswith(".duckdb") else None

    def adopt_legacy_file(self) -> None:
        """A warehouse built before snapshots were published is a plain DuckDB file at the published path: it
        becomes the working file (nothing is copied or lost) and the next publish puts a snapshot in its place."""
        if self.published.is_file() and not self.published.is_symlink() and not self.work.exists():
            self.state.mkdir(parents=True, exist_ok=True)
            wal = self.published.with_name(self.published.name + ".wal")
            os.replace(self.published, self.work)
            if wal.exists():
                os.replace(wal, self.work.with_name(self.work.name + ".wal"))


def working_path(published: str | Path) -> Path:
    """The writers' DuckDB file behind a published path (tests and tools that must write use it)."""
    return Layout.of(published).work
