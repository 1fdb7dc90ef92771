"""A full build's publication keeps the raw tables' appended parts while their rows still add up: a rebuild of
the models after nothing new was loaded does not export the whole history of raw telemetry again."""

from datetime import datetime

import duckdb

from pipelines.warehouse import Layout
from pipelines.warehouse.connection import connect
from pipelines.warehouse.publish import current_manifest, publish

LOADED = datetime(2026, 3, 1, 10, 0)


def _working(tmp_path) -> tuple[Layout, duckdb.DuckDBPyConnection]:
    layout = Layout.of(tmp_path / "w.duckdb")
    layout.state.mkdir(parents=True)
    con = connect(layout.work)
    con.execute("create schema raw")
    con.execute("create table raw.readings (v integer, _loaded_at timestamp)")
    con.execute("insert into raw.readings select range, ? from range(3)", [LOADED])
    con.execute("create schema marts")
    con.execute("create table marts.totals as select sum(v) as total from raw.readings")
    return layout, con


def _parts(layout: Layout, table: str) -> dict:
    return current_manifest(layout)["tables"][table]["parts"]


def _published(layout: Layout, query: str):
    with duckdb.connect(str(layout.published), read_only=True) as con:
        return con.execute(query).fetchall()


def test_a_full_publish_keeps_the_raw_parts_and_rewrites_the_rest(tmp_path):
    layout, con = _working(tmp_path)
    publish(con, layout, None)
    first_raw, first_mart = _parts(layout, "raw.readings"), _parts(layout, "marts.totals")
    publish(con, layout, None)  # a rebuild of the models: nothing new in raw
    assert _parts(layout, "raw.readings") == first_raw  # the same files, not written again
    assert _parts(layout, "marts.totals") != first_mart
    assert _published(layout, "select count(*), sum(v) from raw.readings") == [(3, 3)]


def test_rows_loaded_since_are_one_more_part_and_deleted_rows_rewrite_everything(tmp_path):
    layout, con = _working(tmp_path)
    publish(con, layout, None)
    first = _parts(layout, "raw.readings")
    con.execute("insert into raw.readings values (10, ?)", [datetime(2026, 3, 1, 11, 0)])
    publish(con, layout, None)
    second = _parts(layout, "raw.readings")
    assert set(first) < set(second) and len(second) == len(first) + 1
    assert _published(layout, "select count(*), sum(v) from raw.readings") == [(4, 13)]
    # a replaced landing file deletes its rows: what the kept parts hold no longer adds up to the table
    con.execute("delete from raw.readings where v = 0")
    con.execute("insert into raw.readings values (20, ?)", [datetime(2026, 3, 1, 12, 0)])
    publish(con, layout, None)
    assert not set(second) & set(_parts(layout, "raw.readings"))
    assert _published(layout, "select count(*), sum(v) from raw.readings") == [(4, 33)]
