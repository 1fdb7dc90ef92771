"""Landing Parquet into `raw.*`: typed, checked against the contract, bad rows quarantined with their reason.

Incremental by file: a manifest remembers every file loaded (path, size, modification time), so a second build loads
only new or replaced files, late files included, and loading the same data twice changes nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
from sqlglot import exp

from pipelines.contracts import SOURCES, Source
from pipelines.ingest.validate import col, reason_sql, typed_batch_sql
from pipelines.warehouse.connection import schema_columns

RAW = "raw"
MANIFEST = "raw._files"
QUARANTINE = "raw._quarantine"
REPLACED = "raw._replaced"  # files whose earlier rows gave way to new content: models keyed on rows must rebuild
LANDING_SUFFIXES = (".parquet",)
ADAPTER_QUARANTINE = "_quarantine"  # landing folder of the lines `goodput ingest` could not use


@dataclass
class FileResult:
    file: str
    landed: int = 0
    accepted: int = 0
    quarantined: int = 0
    error: str | None = None


@dataclass
class LoadReport:
    source: str
    files_seen: int = 0
    files_skipped: int = 0
    results: list[FileResult] = field(default_factory=list)

    @property
    def landed(self) -> int:
        return sum(r.landed for r in self.results)

    @property
    def accepted(self) -> int:
        return sum(r.accepted for r in self.results)

    @property
    def quarantined(self) -> int:
        return sum(r.quarantined for r in self.results)

    @property
    def unreadable(self) -> list[FileResult]:
        return [r for r in self.results if r.error]


def ensure_raw_schema(con: duckdb.DuckDBPyConnection, only: list[Source] | None = None) -> None:
    """Raw tables (all, or only those given), the manifest and the quarantine, extended to the current contracts."""
    con.execute(f"create schema if not exists {RAW}")
    present = schema_columns(con, RAW)
    for source in only or SOURCES.values():
        if source.name not in present:
            con.execute(_create_raw_sql(source))
        _add_new_columns(con, source, present.get(source.name, {c.name for c in source.columns}))
    con.execute(f"""create table if not exists {MANIFEST} (
        source varchar, file varchar, size_bytes bigint, modified_ns bigint, content_hash varchar, landed_rows bigint,
        accepted_rows bigint, quarantined_rows bigint, error varchar, loaded_at timestamp)""")
    con.execute(f"""create table if not exists {QUARANTINE} (
        source varchar, file varchar, row_number bigint, reason varchar, record json, quarantined_at timestamp)""")
    con.execute(f"create table if not exists {REPLACED} (source varchar, file varchar, replaced_at timestamp)")


def _create_raw_sql(source: Source) -> str:
    """The raw table's DDL from its contract, built only for a table the warehouse does not have yet."""
    columns = [
        exp.ColumnDef(this=exp.to_identifier(c.name, quoted=True), kind=exp.DataType.build(c.dtype))
        for c in source.columns
    ]
    columns += [
        exp.ColumnDef(this=exp.to_identifier(name), kind=exp.DataType.build(kind))
        for name, kind in (("_file", "VARCHAR"), ("_row", "BIGINT"), ("_loaded_at", "TIMESTAMP"))
    ]
    create = exp.Create(
        this=exp.Schema(this=exp.to_table(raw_table(source)), expressions=columns), kind="TABLE", exists=True
    )
    return create.sql("duckdb")


def _add_new_columns(con: duckdb.DuckDBPyConnection, source: Source, present: set[str]) -> None:
    """A contract that gained a column since the file was built: add it (null for the rows already loaded)."""
    for column in source.columns:
        if column.name not in present:
            alter = exp.Alter(
                this=exp.to_table(raw_table(source)),
                kind="TABLE",
                actions=[
                    exp.ColumnDef(
                        this=exp.to_identifier(column.name, quoted=True), kind=exp.DataType.build(column.dtype)
                    )
                ],
            )
            con.execute(alter.sql("duckdb"))


def raw_table(source: Source) -> str:
    return f"{RAW}.{source.name}"


def landing_files(landing: Path, source: Source) -> list[Path]:
    folder = landing / source.name
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in LANDING_SUFFIXES)


def load_source(
    con: duckdb.DuckDBPyConnection, source: Source, landing: Path, now: datetime | None = None
) -> LoadReport:
    """Load every new or replaced landing file of one source; never raises for bad data."""
    ensure_raw_schema(con, [source, *(SOURCES[ref.source] for ref in source.references)])
    now = now or datetime.now(UTC).replace(tzinfo=None)
    # files are known by their place in the landing (<source>/<partition>/<file>): the same landing named another way
    # (relative, through a link), moved or copied must not load every file again, which would quarantine all of
    # their rows as duplicates
    landing = Path(landing).resolve()
    known = {
        _landing_key(file, source.name): (file, size, modified, digest)  # and the name it was stored under
        for file, size, modified, digest in con.execute(
            f"select file, size_bytes, modified_ns, content_hash from {MANIFEST} where source = ?", [source.name]
        ).fetchall()
    }
    report = LoadReport(source.name)
    for path in landing_files(landing, source):
        report.files_seen += 1
        stat = path.stat()
        seen = known.get(_landing_key(str(path), source.name))
        if seen and seen[1:3] == (stat.st_size, stat.st_mtime_ns):
            report.files_skipped += 1
            continue
        digest = _content_hash(path)
        if seen and seen[3] == digest:  # rewritten with the same bytes (a re-run of a simulation)
            con.execute(
                f"update {MANIFEST} set modified_ns = ? where source = ? and file = ?",
                [stat.st_mtime_ns, source.name, seen[0]],
            )
            report.files_skipped += 1
            continue
        error = _read_batch(con, path)  # outside the transaction: a failed read must not abort it
        con.execute("begin transaction")
        if seen:  # replaced in place: its earlier rows give way to the new content
            _forget(con, source, seen[0])
            con.execute(f"insert into {REPLACED} values (?, ?, ?)", [source.name, seen[0], now])
        result = FileResult(str(path), error=error) if error else _load_batch(con, source, path, now)
        con.execute(
            f"insert into {MANIFEST} values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                source.name,
                str(path),
                stat.st_size,
                stat.st_mtime_ns,
                digest,
                result.landed,
                result.accepted,
                result.quarantined,
                result.error,
                now,
            ],
        )
        con.execute("commit")
        report.results.append(result)
    return report


def _landing_key(file: str, source: str) -> str:
    """A landing file's place under its source's folder, whatever the landing's own path."""
    parts = Path(file).parts
    found = [i for i, part in enumerate(parts) if part == source]
    return "/".join(parts[found[-1] :]) if found else str(Path(file).resolve())


def _content_hash(path: Path) -> str:
    digest = hashlib.blake2b(digest_size=16)
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _forget(con: duckdb.DuckDBPyConnection, source: Source, file: str) -> None:
    con.execute(f"delete from {raw_table(source)} where _file = ?", [file])
    con.execute(f"delete from {QUARANTINE} where source = ? and file = ?", [source.name, file])
    con.execute(f"delete from {MANIFEST} where source = ? and file = ?", [source.name, file])


def _read_batch(con: duckdb.DuckDBPyConnection, path: Path) -> str | None:
    """The file as temp table `_batch` with 1-based `_row`; the reason when it cannot be read at all."""
    try:
        con.execute(
            "create or replace temp table _batch as "
            "select * exclude (file_row_number), file_row_number + 1 as _row "
            "from read_parquet(?, file_row_number = true, hive_partitioning = false)",
            [str(path)],
        )
    except duckdb.Error as error:
        return f"{type(error).__name__}: {str(error).splitlines()[0]}"
    return None


def _load_batch(con: duckdb.DuckDBPyConnection, source: Source, path: Path, now: datetime) -> FileResult:
    result = FileResult(str(path))
    landed_types = {name: dtype for name, dtype, *_ in con.execute("describe _batch").fetchall() if name != "_row"}
    con.execute("create or replace temp table _typed as " + typed_batch_sql(source, landed_types, "_batch"))
    refs = {ref.source: raw_table(SOURCES[ref.source]) for ref in source.references}
    checked = reason_sql(source, landed_types, "_typed", raw_table(source), refs)
    con.execute("create or replace temp table _checked as " + checked, {"now": now} if source.time_column else None)
    columns = ", ".join(col(c.name).sql("duckdb") for c in source.columns)
    con.execute(
        f"insert into {raw_table(source)} ({columns}, _file, _row, _loaded_at) "
        f"select {columns}, ?, _row, ? from _checked where _reason is null",
        [str(path), now],
    )
    con.execute(
        f"insert into {QUARANTINE} select ?, ?, c._row, c._reason, to_json(b), ? "
        "from _checked as c join _batch as b using (_row) where c._reason is not null",
        [source.name, str(path), now],
    )
    result.landed, result.accepted = con.execute(
        "select count(*), count(*) filter (where _reason is null) from _checked"
    ).fetchall()[0]
    result.quarantined = result.landed - result.accepted
    for table in ("_batch", "_typed", "_checked"):
        con.execute(f"drop table if exists {table}")
    return result


def reconciliation(con: duckdb.DuckDBPyConnection, source: Source) -> dict[str, int]:
    """Counts as the tables hold them: landed per the manifest against rows in raw and in quarantine."""
    landed, readable_files, unreadable = con.execute(
        f"select coalesce(sum(landed_rows), 0), count(*) filter (where error is null), "
        f"count(*) filter (where error is not null) from {MANIFEST} where source = ?",
        [source.name],
    ).fetchall()[0]
    accepted = con.execute(f"select count(*) from {raw_table(source)}").fetchall()[0][0]
    quarantined = con.execute(f"select count(*) from {QUARANTINE} where source = ?", [source.name]).fetchall()[0][0]
    return {
        "landed": landed,
        "accepted": accepted,
        "quarantined": quarantined,
        "files": readable_files,
        "unreadable_files": unreadable,
    }


def load_adapter_quarantine(con: duckdb.DuckDBPyConnection, landing: Path, now: datetime | None = None) -> int:
    """Lines the adapters could not use (`_quarantine/*.parquet` in landing, written by `goodput ingest`) into
    `raw._quarantine`, by their input file and line number. A re-ingest replaces its file's lines. Returns rows
    added."""
    ensure_raw_schema(con, [])
    now = now or datetime.now(UTC).replace(tzinfo=None)
    folder = Path(landing).resolve() / ADAPTER_QUARANTINE
    added = 0
    for path in sorted(folder.glob("*.parquet")) if folder.is_dir() else []:
        stat = path.stat()
        seen = con.execute(
            f"select size_bytes, modified_ns from {MANIFEST} where source = ? and file = ?",
            [ADAPTER_QUARANTINE, str(path)],
        ).fetchall()
        if seen and tuple(seen[0]) == (stat.st_size, stat.st_mtime_ns):
            continue
        con.execute("begin transaction")
        con.execute(f"delete from {MANIFEST} where source = ? and file = ?", [ADAPTER_QUARANTINE, str(path)])
        con.execute(
            f"delete from {QUARANTINE} where source like 'adapter:%' and file in "
            "(select distinct file from read_parquet(?))",
            [str(path)],
        )
        rows = con.execute(
            f"insert into {QUARANTINE} select source, file, line, reason, to_json({{'text': text}}), ? "
            "from read_parquet(?)",
            [now, str(path)],
        ).fetchall()[0][0]
        con.execute(
            f"insert into {MANIFEST} values (?, ?, ?, ?, null, ?, 0, ?, null, ?)",
            [ADAPTER_QUARANTINE, str(path), stat.st_size, stat.st_mtime_ns, rows, rows, now],
        )
        con.execute("commit")
        added += rows
    return added


def top_quarantine_reasons(
    con: duckdb.DuckDBPyConnection, source: str, since: datetime, limit: int = 3
) -> list[tuple[str, int]]:
    """The commonest reasons a source's rows were quarantined since a time, most frequent first."""
    return con.execute(
        f"select reason, count(*) as n from {QUARANTINE} where source = ? and quarantined_at >= ? "
        "group by reason order by n desc, reason limit ?",
        [source, since, limit],
    ).fetchall()
