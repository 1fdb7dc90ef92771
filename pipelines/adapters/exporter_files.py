"""`goodput ingest` over exporter files: the named adapter over files or folders, its output written to landing (the
`ingest` package then loads landing into raw), a summary returned."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pipelines.adapters import registry
from pipelines.adapters.base import AdapterError
from pipelines.adapters.landing import inputs_digest, write


@dataclass
class IngestSummary:
    format: str
    files: int
    read: int
    ignored: int
    quarantined: int
    rows: dict[str, int]
    nothing_written: str | None = None  # why no row came out, for a user who expected some


def expand(inputs: list[Path], suffixes: tuple[str, ...]) -> list[Path]:
    """Files as given, and the files of given folders (recursively) whose names end in one of `suffixes`."""
    paths = []
    for item in inputs:
        if item.is_dir():
            paths += sorted(p for p in item.rglob("*") if p.is_file() and p.name.endswith(suffixes))
        elif item.is_file():
            paths.append(item)
        else:
            raise AdapterError(f"{item}: no such file or folder")
    if not paths:
        raise AdapterError(f"no input files (folders are searched for {', '.join(suffixes)})")
    return paths


def ingest(
    fmt: str, inputs: list[Path], landing: Path, at: datetime | None = None, region: str = "default", node=None
) -> IngestSummary:
    adapter = registry.adapter(fmt)
    paths = expand(inputs, adapter.SUFFIXES)
    options = {"at": at, "region": region, "node": node}
    adapted = adapter.adapt(paths, **{k: v for k, v in options.items() if k in adapter.OPTIONS})
    rows = write(adapted, landing, fmt, inputs_digest(paths))
    hint = None if any(rows.values()) else getattr(adapter, "NO_ROWS_HINT", "none of the records gives a row")
    return IngestSummary(fmt, adapted.files, adapted.read, adapted.ignored, adapted.quarantined, rows, hint)
