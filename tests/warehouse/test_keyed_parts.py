"""A keyed table's publication: day parts, of which a publish rewrites only the days its writes marked."""

import duckdb

from pipelines.modeling.runner import TOUCHED_PARTS, mark_touched
from pipelines.warehouse.parts import Table, export_keyed
from pipelines.warehouse.publish import _touched_parts

TABLE = Table("main.attempts", "keyed", "started_at")


def _con():
    con = duckdb.connect()
    con.execute("create table attempts (job_id varchar, started_at timestamp)")
    con.execute(
        "insert into attempts values ('a', '2026-03-01 10:00'), ('b', '2026-03-01 23:59'), ('c', '2026-03-02 00:00'), "
        "('d', null)"
    )
    return con


def _rows(files) -> int:
    with duckdb.connect() as con:
        return con.execute(f"select count(*) from read_parquet({[str(f) for f in files]})").fetchall()[0][0]


def test_a_first_publish_writes_a_part_per_day_and_one_for_rows_without_a_day(tmp_path):
    entry = export_keyed(_con(), TABLE, None, None, tmp_path / "attempts" / "g1")
    assert entry["counts"] == {"D20260301": 2, "D20260302": 1, "__null": 1}
    assert sorted(entry["parts"]) == ["D20260301", "D20260302", "__null"]


def test_only_the_marked_days_are_rewritten_and_a_day_left_empty_goes(tmp_path):
    con = _con()
    first = export_keyed(con, TABLE, None, None, tmp_path / "attempts" / "g1")
    # job c moves from the 2nd to the 3rd; the writer marks both days
    con.execute("update attempts set started_at = '2026-03-03 08:00' where job_id = 'c'")
    second = export_keyed(con, TABLE, first, {"D20260302", "D20260303"}, tmp_path / "attempts" / "g2")
    assert second["parts"]["D20260301"] == first["parts"]["D20260301"]  # untouched: the same file
    assert "D20260302" not in second["parts"] and second["counts"]["D20260303"] == 1
    assert _rows(tmp_path / f for fs in second["parts"].values() for f in fs) == 4


def test_a_change_nobody_marked_is_caught_by_the_row_count_and_everything_is_rewritten(tmp_path):
    con = _con()
    first = export_keyed(con, TABLE, None, None, tmp_path / "attempts" / "g1")
    con.execute("delete from attempts where job_id = 'a'")  # a write that marked nothing
    second = export_keyed(con, TABLE, first, set(), tmp_path / "attempts" / "g2")
    assert second["counts"] == {"D20260301": 1, "D20260302": 1, "__null": 1}


def test_marks_name_the_days_of_the_rows_and_a_rebuild_marks_everything():
    con = _con()
    mark_touched(con, "main.attempts", "select 'D20260301' union all select 'D20260301'")
    mark_touched(con, "main.other", None)
    assert _touched_parts(con) == {"main.attempts": {"D20260301"}, "main.other": {"*"}}
    assert con.execute(f"select count(*) from {TOUCHED_PARTS}").fetchall()[0][0] == 2
