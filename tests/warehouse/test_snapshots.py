"""Readers and writers at once, in separate processes (DuckDB's lock is per process): readers hold or loop on the
published path while builds and ticks run, a tick is killed midway, two writers start together."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from bench.workloads import add_tick
from pipelines.orchestration.build import build
from pipelines.orchestration.tick import tick
from pipelines.warehouse import Layout
from pipelines.warehouse import publish as publishing
from pipelines.warehouse.publish import clone, current_manifest, remove_superseded

ROOT = Path(__file__).parents[2]
READER = Path(__file__).with_name("reader.py")
COMPARED = {
    "marts.fct_goodput__gpu_minutes": "minute_at",
    "marts.fct_goodput__5min": "bucket_at",
    "marts.fct_scheduler__region_minutes": "minute_at",
}


@pytest.fixture()
def warehouse(tmp_path, landing, incidents_db_path):
    """A private copy of the all-incidents warehouse and its landing, to build and tick at will."""
    shutil.copytree(landing, tmp_path / "landing")
    clone(incidents_db_path, tmp_path / "w.duckdb")
    return tmp_path / "landing", tmp_path / "w.duckdb"


def _reader(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(READER), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def _ask(reader: subprocess.Popen, command: str) -> dict:
    reader.stdin.write(command + "\n")
    reader.stdin.flush()
    return json.loads(reader.stdout.readline())


def _goodput(*args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


def _every_table_reads(db: Path) -> int:
    """Every table and view of the published snapshot answers; returns how many there are."""
    with duckdb.connect(str(db), read_only=True) as con:
        names = con.execute(
            "select table_schema, table_name from information_schema.tables where table_catalog = current_database()"
        ).fetchall()
        for schema, name in names:
            con.execute(f'select count(*) from "{schema}"."{name}"').fetchall()
    return len(names)


def _summary(db: Path) -> dict:
    with duckdb.connect(str(db), read_only=True) as con:
        return {
            table: con.execute(
                f"select count(*), max({column}), sum(retained_gpu_min)::double, sum(productive_gpu_min)::double "
                f"from {table}"
                if "goodput" in table or "work" in table
                else f"select count(*), max({column}) from {table}"
            ).fetchall()
            for table, column in COMPARED.items()
        }


def _assert_same(a: dict, b: dict) -> None:
    """Counts and times equal, sums of floats to 1e-9 (parallel scans add them in any order)."""
    assert a.keys() == b.keys()
    for table in a:
        (left,), (right,) = a[table], b[table]
        assert left[:2] == right[:2] and left[2:] == pytest.approx(right[2:], rel=1e-9), table


def test_a_reader_holding_the_file_blocks_no_build_or_tick_and_sees_one_state_until_it_reopens(warehouse):
    landing, db = warehouse
    reader = _reader("hold", str(db))
    try:
        first = json.loads(reader.stdout.readline())
        build(landing, db, progress=False)
        for number in range(3):
            add_tick(landing, number)
            result = tick(landing, db)
            assert result["new_rows"] > 0
            assert _ask(reader, "query") == first  # the held snapshot, unchanged, still answering
        newest = _ask(reader, "reopen")
        assert newest["generation"] == Layout.of(db).current_generation() > first["generation"]
        assert newest["rows"] > first["rows"] and newest["newest"] > first["newest"]
        assert newest["identity_broken"] == newest["nesting_broken"] == 0
    finally:
        reader.communicate("quit\n", timeout=60)
    assert reader.returncode == 0, reader.stderr


def test_superseded_snapshots_go_once_no_reader_holds_them(warehouse, monkeypatch):
    landing, db = warehouse
    layout = Layout.of(db)
    monkeypatch.setattr(publishing, "GRACE_S", 0.0)
    reader = _reader("hold", str(db))
    held = json.loads(reader.stdout.readline())["generation"]
    for number in range(2):
        add_tick(landing, number)
        tick(landing, db)
    kept = sorted(int(p.name[1:7]) for p in layout.snapshots.glob("g*.duckdb"))
    assert kept == [held, layout.current_generation()]  # the held one stays; the one in between is gone
    reader.communicate("quit\n", timeout=60)
    remove_superseded(layout)
    assert [p.name for p in layout.snapshots.glob("g*.duckdb")] == [layout.snapshot(layout.current_generation()).name]
    tables = current_manifest(layout)["tables"].values()
    read = {f.split("/")[1] for entry in tables for files in entry["parts"].values() for f in files}
    on_disk = {folder.name for table in layout.parts.iterdir() for folder in table.iterdir()}
    assert on_disk == read  # no part left that the one snapshot does not read
    assert _every_table_reads(db) > 50


def test_four_readers_in_a_loop_during_a_build_and_ticks_never_fail_nor_go_back(warehouse, tmp_path):
    landing, db = warehouse
    stop = tmp_path / "stop"
    readers = [_reader("loop", str(db), str(stop)) for _ in range(4)]
    try:
        time.sleep(1.0)
        build(landing, db, progress=False)
        for number in range(3):
            add_tick(landing, number)
            tick(landing, db)
    finally:
        stop.touch()
    for reader in readers:
        out, err = reader.communicate(timeout=120)
        assert reader.returncode == 0, err
        records = [json.loads(line) for line in out.splitlines()]
        assert records and not [r for r in records if "error" in r]
        assert all(r["identity_broken"] == 0 and r["nesting_broken"] == 0 for r in records)
        for before, after in zip(records, records[1:], strict=False):
            assert after["generation"] >= before["generation"]
            assert after["alerts"] >= before["alerts"] and after["rows"] >= before["rows"]


KILLED_TICK = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    import pipelines.orchestration.build as build
    import pipelines.warehouse.publish as publish

    def stop_here(*args, **kwargs):
        Path(sys.argv[3]).touch()
        time.sleep(600)

    if sys.argv[4] == "detection":
        build.detect = stop_here  # the models are updated in the working file, nothing is published
    else:
        publish._swap_link = stop_here  # every part and the snapshot are written, the link is not swapped
    from pipelines.orchestration.tick import tick
    tick(sys.argv[1], sys.argv[2])
    """
)


@pytest.mark.parametrize("where", ["detection", "swap"])
def test_a_tick_killed_midway_publishes_nothing_and_the_next_tick_recovers(warehouse, tmp_path, where):
    landing, db = warehouse
    reference_landing, reference = tmp_path / "reference_landing", tmp_path / "reference.duckdb"
    shutil.copytree(landing, reference_landing)
    clone(db, reference)
    before = _summary(db)
    generation = Layout.of(db).current_generation()
    add_tick(landing, 0)
    add_tick(reference_landing, 0)
    mark = tmp_path / "reached"
    killed = subprocess.Popen([sys.executable, "-c", KILLED_TICK, str(landing), str(db), str(mark), where], cwd=ROOT)
    deadline = time.monotonic() + 300
    while not mark.exists() and killed.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert mark.exists(), "the tick never reached the point to kill it at"
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=60)
    assert Layout.of(db).current_generation() == generation
    _assert_same(_summary(db), before)
    assert _every_table_reads(db) > 50  # the previous snapshot, complete
    tick(landing, db)  # no repair by hand: it starts where the last published tick ended
    tick(reference_landing, reference)
    _assert_same(_summary(db), _summary(reference))


def test_two_writers_at_once_run_one_after_the_other(warehouse):
    landing, db = warehouse
    add_tick(landing, 0)
    first, second = (
        _goodput("tick", "--landing", str(landing), "--db", str(db)),
        _goodput("tick", "--landing", str(landing), "--db", str(db)),
    )
    for process in (first, second):
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err
    assert _every_table_reads(db) > 50


def test_a_writer_that_cannot_wait_exits_with_one_line_naming_the_holder(warehouse):
    landing, db = warehouse
    builder = _goodput("build", "--landing", str(landing), "--db", str(db), "--quiet")
    lock = Layout.of(db).lock
    deadline = time.monotonic() + 120
    while (not lock.exists() or "goodput build" not in lock.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    ticker = _goodput("tick", "--landing", str(landing), "--db", str(db), "--wait", "0.5")
    _, err = ticker.communicate(timeout=120)
    assert ticker.returncode == 3
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert f"goodput build, pid {builder.pid}" in err and "gave up after" in err
    _, err = builder.communicate(timeout=600)
    assert builder.returncode == 0, err
    assert _every_table_reads(db) > 50
