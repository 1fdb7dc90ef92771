"""The newest load stamp of a raw table, worked by hand: looked for after the last known one, that one when nothing
is newer, and the whole column's max when none is known."""

from datetime import datetime

import duckdb

from pipelines.warehouse.connection import newest_load

T1, T2, T3 = datetime(2026, 3, 2, 10), datetime(2026, 3, 2, 11), datetime(2026, 3, 2, 12)


def test_the_newest_stamp_after_the_last_known_one():
    con = duckdb.connect()
    con.execute("create schema raw")
    con.execute("create table raw.t (x int, _loaded_at timestamp)")
    assert newest_load(con, "raw.t") is None and newest_load(con, "raw.t", T1) == T1
    con.execute("insert into raw.t values (1, ?), (2, ?)", [T1, T2])
    assert newest_load(con, "raw.t") == T2
    assert newest_load(con, "raw.t", T1) == T2  # a row loaded since
    assert newest_load(con, "raw.t", T2) == T2  # nothing newer: the known one
    assert newest_load(con, "raw.t", T3) == T3  # rows deleted since (a replaced file): still the known one
