"""Publishing: after a successful write, a new snapshot of the working file for readers, swapped in atomically.

A snapshot is a small DuckDB file of views (over the tables' Parquet parts, and the models' own views) plus a JSON
manifest of the parts it reads. The published path is a link to the newest; replacing the link is the commit point,
so a writer killed before it publishes nothing and leaves the last good snapshot in place. A superseded snapshot is
removed once no process holds it open (DuckDB keeps a lock on the file it opened), then every part no kept snapshot
reads: the disk holds the newest snapshot plus those that readers still hold.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
from sqlglot import exp

from pipelines.timing import StepClock
from pipelines.warehouse import parts
from pipelines.warehouse.connection import connect, table_exists
from pipelines.warehouse.layout import Layout

SCHEMAS_SKIPPED = ("main", "information_schema", "pg_catalog")
GRACE_S = 5.0  # a reader that read the old link just before the swap has this long to open the old snapshot
LOSSY_TYPES = ("HUGEINT", "UHUGEINT", "ENUM", "UNION", "BIT", "VARINT", "TIME WITH TIME ZONE")
WRITER_ONLY = {"control.touched_parts"}  # the writers' bookkeeping of what to publish next, not for readers
TIMED_UNCHANGED = datetime.max  # `changed_from` for a write that changed no time-partitioned table


@dataclass(frozen=True)
class Published:
    generation: int
    path: Path
    tables: int
    parts_written: int
    seconds: float
    removed_snapshots: int


def current_manifest(layout: Layout) -> dict | None:
    generation = layout.current_generation()
    if generation is None:
        return None
    return json.loads(layout.manifest(generation).read_text())


def publish(
    con: duckdb.DuckDBPyConnection,
    layout: Layout,
    changed_from: datetime | None = None,
    data_end: datetime | None = None,
    load_started_at: datetime | None = None,
    kept_elsewhere: dict[str, str] | None = None,
    clock: StepClock | None = None,
) -> Published:
    """Publish the working file `con` holds. `changed_from`: the earliest time a time-partitioned table changed
    (None: anything may have changed, rewrite every part but the raw tables' appended ones, kept while they
    still add up to the table; TIMED_UNCHANGED: none did). `kept_elsewhere`: tables
    whose rows already lie in Parquet outside the warehouse (the Spark engine's raw export), published as the
    given view SQL instead of as parts of their own. `clock` collects the seconds of each table's export and of
    the snapshot."""
    clock = clock or StepClock()
    started = time.perf_counter()
    if layout.unpublished.exists():
        changed_from = None  # a writer since the last publish may have changed anything
    old = current_manifest(layout)
    generation = (old["generation"] if old else 0) + 1
    _clear_unpublished(layout, generation)
    old_tables = old["tables"] if old else {}
    signatures = parts.all_columns(con)
    tables, views = _inventory(con, signatures)
    if kept_elsewhere:
        tables = [t for t in tables if t.name not in kept_elsewhere]
        views = {**views, **kept_elsewhere}
    written, compacted, manifest_tables = 0, False, {}
    replaced = _replaced_sources(con, old_tables)
    touched = _touched_parts(con) if changed_from is not None else None
    for table in tables:
        out = layout.parts / table.name / f"g{generation:06d}"
        entry = old_tables.get(table.name)
        if changed_from is None and table.strategy != "append":
            entry = None  # anything may have changed; an append table proves what it kept (its rows add up)
        signature = signatures[table.name]
        if entry is not None and (entry["strategy"] != table.strategy or entry["columns"] != signature):
            entry = None  # a rebuilt table with other columns: every part again
        with clock.step(f"publish:{table.name}"):
            new = _export(con, table, entry, changed_from, replaced, generation, out, touched)
            if not compacted:
                compacted = _compact(con, table, new, changed_from, generation, out)
        if not new["parts"]:
            new.update(parts.export_empty(con, table, out))
        written += sum(len(f) for f in new["parts"].values()) - _kept_files(entry, new)
        manifest_tables[table.name] = {"strategy": table.strategy, "columns": signature, **new}
    manifest = {
        "generation": generation,
        "published_at": _now().isoformat(),
        "data_end": data_end.isoformat() if data_end else (old or {}).get("data_end"),
        "load_started_at": load_started_at.isoformat() if load_started_at else (old or {}).get("load_started_at"),
        "tables": manifest_tables,
    }
    with clock.step("publish:snapshot"):
        _write_snapshot(layout, manifest, views, old)
        _swap_link(layout, generation)
    _clear_touched(con)
    if changed_from is None:
        layout.unpublished.unlink(missing_ok=True)
    removed = remove_superseded(layout)
    return Published(generation, layout.published, len(tables), written, time.perf_counter() - started, removed)


def _export(con, table, entry, changed_from, replaced, generation, out, touched) -> dict:
    if table.strategy == "keyed":
        return parts.export_keyed(con, table, entry, None if touched is None else touched.get(table.name, set()), out)
    if table.strategy == "time":
        if entry is not None and changed_from is TIMED_UNCHANGED:
            return {"parts": dict(entry["parts"])}
        since = None if changed_from is None else _aligned_start(changed_from, table.align)
        return parts.export_time(con, table, entry, since, out)
    if table.strategy == "append":
        return parts.export_append(con, table, entry, table.name in replaced, generation, out)
    print_ = parts.fingerprint(con, table)
    if entry is not None and entry.get("fingerprint") == print_:
        return {"parts": dict(entry["parts"]), "fingerprint": print_}
    return {**parts.export_whole(con, table, out), "fingerprint": print_}


def _compact(con, table, entry, changed_from, generation, out) -> bool:
    """At most one merge per publish, so that compaction never costs a tick more than one day of one table."""
    if table.strategy == "time" and changed_from not in (None, TIMED_UNCHANGED):
        return parts.compact_time(con, entry, changed_from, out)
    if table.strategy == "append":
        return parts.compact_append(con, entry, generation, out)
    return False


def _kept_files(entry: dict | None, new: dict) -> int:
    if entry is None:
        return 0
    old_files = {f for files in entry["parts"].values() for f in files}
    return sum(f in old_files for files in new["parts"].values() for f in files)


def _aligned_start(moment: datetime, align: str | None) -> datetime:
    from pipelines.modeling.runner import aligned

    return aligned((moment, moment), align)[0]


def _inventory(con, signatures: dict[str, list[list[str]]]) -> tuple[list[parts.Table], dict[str, str]]:
    """The tables to publish with how each is kept, and the views (name -> SQL)."""
    from pipelines.modeling.project import load_project

    project = load_project()
    rows = con.execute(
        "select schema_name, table_name from duckdb_tables() where not internal and not temporary "
        "and database_name = current_database() order by all"
    ).fetchall()
    view_rows = con.execute(
        "select schema_name, view_name, sql from duckdb_views() where not internal and not temporary "
        "and database_name = current_database() order by all"
    ).fetchall()
    views = {f"{s}.{v}": sql for s, v, sql in view_rows if s not in SCHEMAS_SKIPPED}
    tables = []
    for schema, name in rows:
        full = f"{schema}.{name}"
        if schema in SCHEMAS_SKIPPED or full in WRITER_ONLY:
            continue
        model = project.get(full)
        incremental = (model.incremental or {}) if model is not None else {}
        if "unique_key" in incremental and "parts_by" in incremental:
            tables.append(parts.Table(full, "keyed", incremental["parts_by"]))
        elif "time_column" in incremental:
            tables.append(parts.Table(full, "time", incremental["time_column"], incremental.get("align")))
        elif schema == "raw" and "_loaded_at" in dict(signatures.get(full, [])):
            tables.append(parts.Table(full, "append", "_loaded_at"))
        else:
            tables.append(parts.Table(full, "whole"))
    return tables, views


def _touched_parts(con) -> dict[str, set[str]]:
    """The parts of keyed tables that writes since the last publish marked (see `modeling.runner.mark_touched`)."""
    from pipelines.modeling.runner import TOUCHED_PARTS

    if not table_exists(con, *TOUCHED_PARTS.split(".")):
        return {}
    found: dict[str, set[str]] = {}
    for model, part in con.execute(f"select distinct model, part from {TOUCHED_PARTS}").fetchall():
        found.setdefault(model, set()).add(part)
    return found


def _clear_touched(con) -> None:
    """Published: the marks are spent (a writer killed before this point leaves them for the next publish)."""
    from pipelines.modeling.runner import TOUCHED_PARTS

    if table_exists(con, *TOUCHED_PARTS.split(".")):
        con.execute(f"delete from {TOUCHED_PARTS}")


def _create_views(snap, views: dict[str, str]) -> None:
    """The models' views, each after the views it reads: DuckDB binds a view when it is created, so one that
    fails for a view not made yet is tried again after the others (no SQL to parse on the tick's clock)."""
    pending = dict(views)
    while pending:
        failed = {}
        for name, sql in pending.items():
            snap.execute(f"create schema if not exists {exp.to_identifier(name.split('.')[0]).sql('duckdb')}")
            try:
                snap.execute(sql.replace("CREATE VIEW", "CREATE OR REPLACE VIEW", 1))
            except duckdb.CatalogException:
                failed[name] = sql
        if len(failed) == len(pending):
            raise RuntimeError(f"views that cannot be created in the snapshot: {', '.join(sorted(failed))}")
        pending = failed


def _replaced_sources(con, old_tables: dict) -> set[str]:
    """Raw tables that had a landing file replaced since they were last published (their old rows went away)."""
    if (
        not old_tables
        or not con.execute(
            "select count(*) from duckdb_tables() where schema_name = 'raw' and table_name = '_replaced'"
        ).fetchall()[0][0]
    ):
        return set()
    found = set()
    for name, entry in old_tables.items():
        if entry["strategy"] == "append" and entry.get("through"):
            hit = con.execute(
                "select count(*) from raw._replaced where 'raw.' || source = ? and replaced_at >= ?",
                [name, datetime.fromisoformat(entry["through"])],
            ).fetchall()[0][0]
            if hit:
                found.add(name)
    return found


def _write_snapshot(layout: Layout, manifest: dict, views: dict[str, str], old: dict | None) -> None:
    """The views file: a copy of the previous snapshot with only the changed tables' views made again (binding a
    view reads its Parquet footers: most of a tick's tables have not changed), or a new file."""
    generation = manifest["generation"]
    path = layout.snapshot(generation)
    layout.snapshots.mkdir(parents=True, exist_ok=True)
    previous = layout.snapshot(old["generation"]) if old else None
    reuse = previous is not None and previous.exists()
    if reuse:
        shutil.copyfile(previous, path)
    snap = connect(path)
    try:
        before = (old or {}).get("tables", {}) if reuse else {}
        for name, entry in manifest["tables"].items():
            if before.get(name, {}).get("parts") != entry["parts"] or before[name]["columns"] != entry["columns"]:
                _create_table_view(snap, layout, name, entry)
        for name in set(before) - set(manifest["tables"]):
            snap.execute(f"drop view if exists {exp.to_table(name).sql('duckdb')}")
        _create_views(snap, views)
        snap.execute("create schema if not exists control")
        snap.execute(
            "create or replace table control.snapshot as select ?::bigint as generation, "
            "?::timestamp as published_at, ?::timestamp as data_end",
            [generation, datetime.fromisoformat(manifest["published_at"]), manifest["data_end"]],
        )
        snap.execute("checkpoint")
    finally:
        snap.close()
    temporary = layout.manifest(generation).with_suffix(".json.tmp")
    temporary.write_text(json.dumps(manifest))
    os.replace(temporary, layout.manifest(generation))


def _create_table_view(snap, layout: Layout, name: str, entry: dict) -> None:
    """A view over the parts, casting back the types Parquet does not keep (HUGEINT becomes DOUBLE, ENUM VARCHAR)."""
    schema, table = name.split(".")
    snap.execute(f"create schema if not exists {exp.to_identifier(schema).sql('duckdb')}")
    files = [str(layout.parts / f) for fs in entry["parts"].values() for f in fs]
    listed = exp.Array(expressions=[exp.Literal.string(f) for f in files]).sql("duckdb")
    select = []
    for column, kind in entry["columns"]:
        ident = exp.to_identifier(column, quoted=True).sql("duckdb")
        lossy = kind.startswith(LOSSY_TYPES)
        select.append(f"cast({ident} as {kind}) as {ident}" if lossy else ident)
    target = exp.to_table(name).sql("duckdb")
    source = f"read_parquet({listed}, hive_partitioning = false)"
    snap.execute(f"create or replace view {target} as select {', '.join(select)} from {source}")


def _swap_link(layout: Layout, generation: int) -> None:
    link = layout.published.with_name(f".{layout.published.name}.link-{generation}")
    if link.is_symlink():
        link.unlink()
    os.symlink(os.path.relpath(layout.snapshot(generation), layout.published.parent), link)
    os.replace(link, layout.published)


def _clear_unpublished(layout: Layout, generation: int) -> None:
    """What a writer killed before its swap left of this generation."""
    for path in (layout.snapshot(generation), layout.manifest(generation)):
        path.unlink(missing_ok=True)
    Path(str(layout.snapshot(generation)) + ".wal").unlink(missing_ok=True)
    if layout.parts.is_dir():
        for folder in layout.parts.iterdir():
            shutil.rmtree(folder / f"g{generation:06d}", ignore_errors=True)


def remove_superseded(layout: Layout) -> int:
    """Remove the snapshots no process holds open (after the grace), then the parts no kept snapshot reads."""
    current = layout.current_generation()
    if current is None or not layout.snapshots.is_dir():
        return 0
    removed = 0
    kept = [current]
    generations = sorted(int(p.name[1:7]) for p in layout.snapshots.glob("g*.duckdb"))
    for generation, successor in zip(generations, generations[1:], strict=False):
        if generation >= current:
            continue
        # superseded when the next snapshot was published: a reader may still be opening it for a moment
        published = layout.manifest(successor)
        recent = not published.exists() or time.time() - published.stat().st_mtime < GRACE_S
        path = layout.snapshot(generation)
        if recent or _held_open(path):
            kept.append(generation)
            continue
        path.unlink(missing_ok=True)
        layout.manifest(generation).unlink(missing_ok=True)
        removed += 1
    _remove_unread_parts(layout, kept)
    return removed


def _held_open(path: Path) -> bool:
    """Whether another process has the DuckDB file open (a DuckDB reader holds a lock on it while open)."""
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def _remove_unread_parts(layout: Layout, kept: list[int]) -> None:
    read: set[str] = set()
    for generation in kept:
        manifest = layout.manifest(generation)
        if manifest.exists():
            for entry in json.loads(manifest.read_text())["tables"].values():
                read.update(f.split("/")[0] + "/" + f.split("/")[1] for fs in entry["parts"].values() for f in fs)
    newest = max(kept)
    for table in layout.parts.iterdir() if layout.parts.is_dir() else []:
        for folder in table.iterdir():
            if f"{table.name}/{folder.name}" not in read and int(folder.name[1:]) <= newest:
                shutil.rmtree(folder, ignore_errors=True)
        if not any(table.iterdir()):
            table.rmdir()


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def clone(source: str | Path, target: str | Path) -> Published:
    """A copy of a warehouse's working file, published at `target`: a what-if, or a test, writes to it freely."""
    from pipelines.warehouse.lock import writer_lock

    origin, copy = Layout.of(source), Layout.of(target)
    with writer_lock(origin, "goodput clone"):
        copy.state.mkdir(parents=True, exist_ok=True)
        shutil.copy(origin.work, copy.work)
        wal = Path(f"{origin.work}.wal")  # what a writer killed before its checkpoint left: DuckDB replays it
        if wal.exists():
            shutil.copy(wal, f"{copy.work}.wal")
        marks = current_manifest(origin) or {}
    times = {k: datetime.fromisoformat(marks[k]) for k in ("data_end", "load_started_at") if marks.get(k)}
    with writer_lock(copy, "goodput clone"), connect(copy.work) as con:
        return publish(con, copy, **times)
