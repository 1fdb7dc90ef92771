"""Incremental runs (a tick, a backfill) give exactly the rows of a full rebuild."""

from datetime import datetime, timedelta

import duckdb
import pytest

from pipelines.modeling.project import build_order, load_project
from pipelines.modeling.restatement import restatement_window
from pipelines.modeling.runner import FULL_WINDOW, aligned, run_model
from pipelines.orchestration.build import build
from pipelines.warehouse.connection import connect
from pipelines.warehouse.layout import working_path

MODELS = load_project()
INCREMENTAL = [name for name, m in MODELS.items() if m.incremental]


def run_all(db, windows):
    con = connect(working_path(db))  # models run where writers write
    for window in windows:
        restated = restatement_window(con, window) if window else None  # as a tick restates
        for name in build_order(MODELS):
            if restated is None:
                run_model(con, MODELS[name])
            else:
                run_model(con, MODELS[name], restated.window, lost_from=restated.lost_from)
    con.close()


@pytest.fixture(scope="module")
def full_and_incremental(tmp_path_factory, landing):
    root = tmp_path_factory.mktemp("incremental")
    for name in ("full", "ticks"):
        build(landing, root / f"{name}.duckdb", progress=False, models=False)
        with connect(working_path(root / f"{name}.duckdb")) as con:  # a job the scheduler ran with no metadata
            con.execute(
                "insert into raw.scheduler_events select * replace ('no-metadata-' || job_id as job_id) "
                "from raw.scheduler_events where job_id = (select min(job_id) from raw.scheduler_events)"
            )
            add_step_lines(con)
    run_all(root / "full.duckdb", [None])
    # three uneven ticks, the middle one cutting through a 5-minute bucket and an hour
    cuts = [FULL_WINDOW[0], datetime(2026, 3, 2, 9, 7), datetime(2026, 3, 2, 17, 42), FULL_WINDOW[1]]
    run_all(root / "ticks.duckdb", list(zip(cuts, cuts[1:], strict=False)))
    con = duckdb.connect()
    con.execute(f"attach '{working_path(root / 'full.duckdb')}' as full_db (read_only)")
    con.execute(f"attach '{working_path(root / 'ticks.duckdb')}' as ticks_db (read_only)")
    yield con
    con.close()


def test_the_big_facts_are_incremental():
    assert {
        "marts.fct_goodput__gpu_minutes",
        "staging.stg_gpu_telemetry__minutes",
    } <= set(INCREMENTAL)


@pytest.mark.parametrize("table", INCREMENTAL)
def test_incremental_equals_full(full_and_incremental, table):
    con = full_and_incremental
    full = con.execute(f"select count(*) from full_db.{table}").fetchone()[0]
    assert full > 0
    assert con.execute(f"select count(*) from ticks_db.{table}").fetchone()[0] == full
    assert unmatched(con, f"full_db.{table}", f"ticks_db.{table}") == 0


def add_step_lines(con) -> None:
    """The small fleet runs no job across nodes, so it logs no steps: two ranks' lines from its runtime minutes."""
    con.execute(
        "insert into raw.job_step_times by name select ts + interval 59 second as ts, true as ts_logged, job_id, "
        "attempt, rank as worker, node_id, step, floor(steps)::bigint as covers, step_time_s, _file, _row, "
        "_loaded_at from raw.job_runtime_metrics, range(2) as ranks(rank) where steps >= 1"
    )


def unmatched(con, left: str, right: str) -> int:
    """Rows of `left` with no equal row in `right`: exact on keys and labels, floats within 1e-9 relative (sums may
    run in another order; seconds of step time over a day reach 1e7, where one ulp of reordering is 1e-9)."""
    described = con.execute(f"describe {left}").fetchall()
    floats = [c for c, kind, *_ in described if kind == "DOUBLE"]
    exact = [c for c, kind, *_ in described if kind != "DOUBLE"]
    match = " and ".join(f"a.{c} is not distinct from b.{c}" for c in exact)
    close = (
        " and ".join(
            f"abs(coalesce(a.{c}, 0) - coalesce(b.{c}, 0)) < 1e-9 * greatest(1, abs(coalesce(a.{c}, 0)))"
            for c in floats
        )
        or "true"
    )
    return con.execute(
        f"select count(*) from {left} as a where not exists (select 1 from {right} as b where {match} and {close})"
    ).fetchone()[0]


def test_windows_align_to_the_rollup_grain():
    window = (datetime(2026, 3, 2, 9, 7), datetime(2026, 3, 2, 17, 42))
    assert aligned(window, "5min") == (datetime(2026, 3, 2, 9, 5), datetime(2026, 3, 2, 17, 45))
    assert aligned(window, "hour") == (datetime(2026, 3, 2, 9), datetime(2026, 3, 2, 18))
    assert aligned(window, "day") == (datetime(2026, 3, 2), datetime(2026, 3, 3))


def test_a_tick_restates_back_to_the_last_checkpoint_of_the_attempts_that_failed_since():
    """Worked by hand: A (checkpoint 10:20) fails in the tick; B is still running, C completed, D (no checkpoint,
    started 10:30) failed, E (no checkpoint since 02:00) failed, which the six-hour cap cuts to 04:45."""
    con = duckdb.connect()
    con.execute("create schema raw")
    con.execute(
        "create table raw.scheduler_events (job_id varchar, attempt int, event_type varchar, event_at timestamp,"
        " state varchar)"
    )
    con.execute("create table raw.job_metadata (job_id varchar, reports_steps boolean)")
    con.execute("create table raw.job_runtime_metrics (job_id varchar, attempt int, ts timestamp, checkpoint_s double)")
    t = lambda hhmm: datetime(2026, 3, 2, int(hhmm[:2]), int(hhmm[3:]))  # noqa: E731
    events = [
        ("A", "started", "10:00", None), ("A", "ended", "10:50", "failed"),
        ("B", "started", "09:00", None),
        ("C", "started", "10:00", None), ("C", "ended", "10:50", "completed"),
        ("D", "started", "10:30", None), ("D", "ended", "10:47", "cancelled"),
        ("E", "started", "02:00", None), ("E", "ended", "10:55", "failed"),
    ]  # fmt: skip
    con.executemany(
        "insert into raw.scheduler_events values (?, 1, ?, ?, ?)", [(j, e, t(a), s) for j, e, a, s in events]
    )
    con.executemany("insert into raw.job_metadata values (?, true)", [(j,) for j in "ABCD"] + [("E",)])
    con.executemany(
        "insert into raw.job_runtime_metrics values (?, 1, ?, 30.0)", [("A", t("10:20")), ("B", t("09:10"))]
    )

    def tick(start: str, reporting: list[str]) -> datetime:
        """Where a tick from `start` restates from, when only the `reporting` jobs report steps."""
        con.execute("update raw.job_metadata set reports_steps = job_id in (select unnest(?))", [reporting])
        restated = restatement_window(con, (t(start), FULL_WINDOW[1]))
        return restated.lost_from or restated.window[0]

    assert tick("10:45", ["A", "B", "C", "D"]) == t("10:20")  # A's checkpoint; B is still running
    assert tick("10:45", ["B", "C", "D"]) == t("10:30")  # D: no checkpoint, from its start
    assert tick("10:45", ["B", "C"]) == t("10:45")  # nothing failed: the tick's own window
    assert tick("10:45", ["A", "D", "E"]) == t("04:45")  # E from 02:00, capped at six hours
    assert tick("10:51", ["A", "D"]) == t("10:51")  # A and D failed before this tick: restated already


def test_a_model_incremental_by_key_recomputes_the_keys_whose_rows_arrived_and_rebuilds_on_other_changes(tmp_path):
    """Late rows of job A and a new job C recompute A and C only; a new row in a source without the key, or a
    landing file replaced in place, rebuilds the whole table; every step equals a full rebuild."""
    from pipelines.modeling.project import load_project as load

    sql = (
        "select e.job_id, sum(e.v) as total, count(i.gpu_id) as gpus from raw.scheduler_events as e "
        "left join raw.inventory as i on i.gpu_id = e.job_id group by e.job_id"
    )
    folder = tmp_path / "staging"
    folder.mkdir()
    (folder / "stg_totals.sql").write_text(sql)
    (folder / "_models.yml").write_text("models:\n  stg_totals:\n    incremental: {unique_key: job_id}\n")
    model = load(tmp_path)["staging.stg_totals"]
    assert model.sources == {"raw.scheduler_events", "raw.inventory"}
    con = duckdb.connect()
    con.execute("create schema raw")
    con.execute("create table raw.scheduler_events (job_id varchar, v int, _loaded_at timestamp)")
    con.execute("create table raw.inventory (gpu_id varchar, _loaded_at timestamp)")
    con.execute("create table raw._replaced (source varchar, file varchar, replaced_at timestamp)")
    at = lambda hour: datetime(2026, 3, 2, hour)  # noqa: E731
    tick = (at(0), FULL_WINDOW[1])

    def rows():
        return sorted(con.execute("select * from staging.stg_totals").fetchall())

    def full():
        return sorted(con.execute(sql).fetchall())

    con.executemany("insert into raw.scheduler_events values (?, ?, ?)", [("A", 1, at(1)), ("B", 2, at(1))])
    assert run_model(con, model) == 2 and rows() == full() == [("A", 1, 0), ("B", 2, 0)]
    con.executemany("insert into raw.scheduler_events values (?, ?, ?)", [("A", 10, at(2)), ("C", 5, at(2))])
    assert run_model(con, model, tick) == 2  # A and C, not B
    assert rows() == full() == [("A", 11, 0), ("B", 2, 0), ("C", 5, 0)]
    assert run_model(con, model, tick) == 0  # nothing arrived since
    con.execute("insert into raw.inventory values ('B', ?)", [at(3)])
    assert run_model(con, model, tick) == 3  # no job_id in the inventory: everything
    assert rows() == full() == [("A", 11, 0), ("B", 2, 1), ("C", 5, 0)]
    con.execute("delete from raw.scheduler_events where job_id = 'C'")
    con.execute("insert into raw._replaced values ('scheduler_events', 'part-0.parquet', ?)", [at(4)])
    assert run_model(con, model, tick) == 2  # C's rows went with a replaced file: a rebuild drops it
    assert rows() == full() == [("A", 11, 0), ("B", 2, 1)]


def test_a_full_build_runs_a_window_per_chunk_of_the_sources_span():
    from pipelines.modeling.runner import chunk_windows

    assert chunk_windows([datetime(2026, 3, 2), datetime(2026, 3, 3), datetime(2026, 3, 4)]) == [
        (FULL_WINDOW[0], datetime(2026, 3, 3)),
        (datetime(2026, 3, 3), datetime(2026, 3, 4)),
        (datetime(2026, 3, 4), FULL_WINDOW[1]),
    ]
    assert chunk_windows([]) == chunk_windows([datetime(2026, 3, 2)]) == [FULL_WINDOW]


def test_a_sparse_span_gets_windows_only_where_it_has_rows(tmp_path):
    """Three days of rows spread over eleven years: three chunks, not four thousand."""
    from pipelines.modeling.project import Model
    from pipelines.modeling.runner import _chunks_with_data

    con = duckdb.connect()
    con.execute("create schema raw")
    con.execute("create table raw.scheduler_events (event_at timestamp, job_id varchar)")
    con.execute("create table raw.change_events (changed_at timestamp)")
    con.execute(
        "insert into raw.scheduler_events values ('2015-06-26 13:57', 'a'), ('2015-06-26 20:22', 'b'), "
        "('2016-08-01 00:00', 'c'), (null, 'd')"
    )
    con.execute("insert into raw.change_events values ('2026-03-02 10:00')")
    model = Model(
        "m",
        "staging",
        tmp_path / "m.sql",
        "select 1",
        frozenset(),
        sources=frozenset(
            {"raw.scheduler_events", "raw.change_events", "raw.job_metadata"}  # the last one is not in this warehouse
        ),
    )
    assert _chunks_with_data(con, model, timedelta(days=1)) == [
        datetime(2015, 6, 26),
        datetime(2016, 8, 1),
        datetime(2026, 3, 2),
    ]
    con.execute("delete from raw.scheduler_events where event_at < '2026-01-01'")
    con.execute("insert into raw.scheduler_events values ('2026-03-04 23:59', 'e')")
    dense = [datetime(2026, 3, 2), datetime(2026, 3, 3), datetime(2026, 3, 4)]  # every day of a short span
    assert _chunks_with_data(con, model, timedelta(days=1)) == dense


def test_a_full_build_in_hourly_windows_gives_the_rows_of_one_statement(tmp_path, landing, monkeypatch):
    """Every time-incremental model built an hour at a time against the same model in one statement."""
    from pipelines.modeling import runner

    for name in ("chunked", "whole"):
        build(landing, tmp_path / f"{name}.duckdb", progress=False, models=False)
        with connect(working_path(tmp_path / f"{name}.duckdb")) as con:
            add_step_lines(con)
    monkeypatch.setattr(runner, "FULL_BUILD_CHUNK", timedelta(hours=1))
    run_all(tmp_path / "chunked.duckdb", [None])
    monkeypatch.setattr(runner, "FULL_BUILD_CHUNK", timedelta(days=10000))
    run_all(tmp_path / "whole.duckdb", [None])
    con = duckdb.connect()
    con.execute(f"attach '{working_path(tmp_path / 'chunked.duckdb')}' as a (read_only)")
    con.execute(f"attach '{working_path(tmp_path / 'whole.duckdb')}' as b (read_only)")
    for table in INCREMENTAL:
        if "time_column" not in MODELS[table].incremental:
            continue
        count = con.execute(f"select count(*) from b.{table}").fetchone()[0]
        assert count > 0 and con.execute(f"select count(*) from a.{table}").fetchone()[0] == count, table
        assert unmatched(con, f"b.{table}", f"a.{table}") == 0, table


@pytest.fixture(scope="module")
def late_files_ticked(tmp_path_factory, landing):
    """A warehouse built from what had landed by CUT, then ticked once with the rest landed as new files."""
    from pipelines.orchestration.tick import tick
    from tests.fixtures.split_landing import first_part, second_part

    root = tmp_path_factory.mktemp("late_files")
    first_part(landing, root / "landing")
    build(root / "landing", root / "w.duckdb", progress=False)
    second_part(landing, root / "landing")
    tick(root / "landing", root / "w.duckdb")
    return working_path(root / "w.duckdb")


@pytest.mark.parametrize("table", INCREMENTAL)
def test_a_tick_with_late_files_equals_a_full_build(late_files_ticked, incidents_db_path, table):
    """What a live tick sees (rows of running attempts arriving after their earlier minutes were modelled) gives
    the rows of a full build: an attempt's gaming row, which moves with its last minute, is replaced, not doubled."""
    con = duckdb.connect()
    con.execute(f"attach '{working_path(incidents_db_path)}' as full_db (read_only)")
    con.execute(f"attach '{late_files_ticked}' as ticks_db (read_only)")
    full = con.execute(f"select count(*) from full_db.{table}").fetchone()[0]
    assert con.execute(f"select count(*) from ticks_db.{table}").fetchone()[0] == full
    assert unmatched(con, f"full_db.{table}", f"ticks_db.{table}") == 0
