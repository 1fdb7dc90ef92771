"""The Spark warehouse folder: each table a folder of Parquet that Spark, DuckDB or any engine reads.

    <root>/raw/<source>/part-*.parquet   accepted rows, one file per load (rewritten whole when a file was replaced)
    <root>/<layer>/<model>/              a model's table; one incremental by time holds one folder per day of its
                                         time column (`_day=YYYYMMDD`), so a tick rewrites only the days it touches
    <root>/goodput.duckdb.state/         the ledger: the contracts' working file (the same loader as the DuckDB
                                         engine: manifest, quarantine, the rows checked against), the alert log,
                                         the writer lock
    <root>/goodput.duckdb                the DuckDB face readers open: views over the tables here, the alert log
    <root>/state.json                    where the data ends and when it was last loaded: where the next tick starts

Plain Parquet rather than Delta or Iceberg: their Spark jars come from Maven at session start, which these machines
(and many clusters' build hosts) cannot reach, and replacing a day's folder by rename does what a tick needs of MERGE.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pipelines.modeling.project import RETIRED_MODELS
from pipelines.warehouse import Layout

DAY_COLUMN = "_day"
NULL_DAY = "__HIVE_DEFAULT_PARTITION__"  # Spark's folder for rows whose time is null


@dataclass(frozen=True)
class SparkFolder:
    root: Path

    @classmethod
    def of(cls, root: str | Path) -> SparkFolder:
        return cls(Path(os.path.abspath(root)))

    @property
    def ledger(self) -> Layout:
        """The ledger, a DuckDB warehouse (see `pipelines.warehouse`) whose published face is `goodput.duckdb`."""
        return Layout.of(self.root / "goodput.duckdb")

    def table(self, name: str) -> Path:
        schema, table = name.split(".")
        return self.root / schema / table

    @property
    def staging(self) -> Path:
        return self.root / "_staging"

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    def state(self) -> dict:
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {}

    def save_state(self, **values: object) -> None:
        state = {**self.state(), **{k: v.isoformat() if isinstance(v, datetime) else v for k, v in values.items()}}
        partial = self.state_file.with_suffix(".tmp")
        partial.write_text(json.dumps(state, indent=2))
        partial.replace(self.state_file)

    def tables(self) -> list[str]:
        """Every table the folder holds, as schema.table."""
        found = []
        for schema in sorted(p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))):
            if schema.name.endswith(".state"):
                continue
            found += [f"{schema.name}.{t.name}" for t in sorted(schema.iterdir()) if t.is_dir()]
        return found

    def new_staging(self) -> Path:
        path = self.staging / uuid.uuid4().hex
        path.parent.mkdir(parents=True, exist_ok=True)
        return path


def replace_folder(target: Path, staged: Path) -> None:
    """The staged folder takes the target's place: the old one is moved aside first and removed after."""
    target.parent.mkdir(parents=True, exist_ok=True)
    aside = target.with_name(f".{target.name}.old")
    shutil.rmtree(aside, ignore_errors=True)
    if target.exists():
        target.rename(aside)
    staged.rename(target)
    shutil.rmtree(aside, ignore_errors=True)


def replace_days(target: Path, staged: Path, touched: set[str]) -> None:
    """The staged day folders replace the target's, then the touched days staging no longer holds go (in that
    order: a run killed between two days leaves every day whole, and the next tick, starting where this one did,
    recomputes the same window over them)."""
    target.mkdir(parents=True, exist_ok=True)
    written = set()
    for folder in sorted(staged.glob(f"{DAY_COLUMN}=*")):
        written.add(folder.name)
        replace_folder(target / folder.name, folder)
    for day in sorted(touched):
        if f"{DAY_COLUMN}={day}" not in written:
            shutil.rmtree(target / f"{DAY_COLUMN}={day}", ignore_errors=True)
    shutil.rmtree(staged, ignore_errors=True)


def recover(root: Path) -> None:
    """Undo what a killed run left half done: a folder moved aside whose replacement never arrived goes back;
    staging goes."""
    for aside in sorted(root.rglob(".*.old")):
        original = aside.with_name(aside.name[1 : -len(".old")])
        if original.exists():
            shutil.rmtree(aside, ignore_errors=True)
        else:
            aside.rename(original)
    shutil.rmtree(root / "_staging", ignore_errors=True)


def drop_retired_folders(folder: SparkFolder) -> list[str]:
    """Remove the table folders of retired models (see `RETIRED_MODELS`) that a folder built before still holds:
    nothing would write them again, and a reader's catalogue would list them."""
    dropped = []
    for name in RETIRED_MODELS:
        if folder.table(name).is_dir():
            shutil.rmtree(folder.table(name))
            dropped.append(name)
    return dropped


def days(target: Path) -> list[str]:
    """The day folders of a table kept by day (YYYYMMDD), without the folder of null times."""
    return sorted(
        p.name.split("=", 1)[1] for p in target.glob(f"{DAY_COLUMN}=*") if p.is_dir() and not p.name.endswith(NULL_DAY)
    )


def parquet_files(target: Path) -> list[str]:
    """Every Parquet file under a table's folder (what a DuckDB view over it reads)."""
    return sorted(str(p) for p in target.rglob("*.parquet") if not any(s.startswith(".") for s in p.parts))
