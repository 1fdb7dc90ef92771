"""The data-quality suites of models/_expectations.yml with Great Expectations: all hold on a clean simulated fleet,
and on broken copies of it the expectation that should fail does, naming what it saw; the HTML report and the
command."""

from datetime import datetime

import duckdb
import pytest

from pipelines.cli import main
from pipelines.quality.report import latest_results, render
from pipelines.quality.suites import Suite, SuiteError, load_suites, run_suite, run_suites
from pipelines.warehouse.layout import working_path
from pipelines.warehouse.publish import clone


@pytest.fixture()
def warehouse(incidents_db_path, tmp_path):
    db = tmp_path / "w.duckdb"
    clone(incidents_db_path, db)
    with duckdb.connect(str(working_path(db))) as con:  # the suites run where writers write
        yield con


def _failed(rows) -> set[tuple[str, str, str | None]]:
    return {(r["table_name"], r["expectation"], r["column_name"]) for r in rows if not r["success"]}


def test_every_suite_holds_on_clean_data(warehouse):
    rows = run_suites(warehouse, run_at=datetime(2026, 3, 3))
    assert len(rows) == sum(len(s.expectations) for s in load_suites().values())
    assert _failed(rows) == set()
    assert all(r["error"] is None and r["rows_checked"] > 0 for r in rows)


def test_broken_rows_fail_the_right_expectations(warehouse):
    newest = warehouse.execute("select max(ts) from raw.gpu_telemetry").fetchall()[0][0]
    # a repeated key, an H100 drawing 1,500 W and a GPU the inventory does not know, all in the newest partition
    warehouse.execute("insert into raw.gpu_telemetry select * from raw.gpu_telemetry where ts = ? limit 1", [newest])
    h100 = warehouse.execute("select gpu_id from raw.inventory where sku = 'H100-SXM-80GB' limit 1").fetchall()[0][0]
    warehouse.execute(
        "update raw.gpu_telemetry set power_w = 1500 where gpu_id = ? and ts >= ? - interval 10 hour", [h100, newest]
    )
    warehouse.execute(
        "insert into raw.gpu_telemetry select * replace ('ghost-g0' as gpu_id) from raw.gpu_telemetry "
        "where ts = ? limit 1",
        [newest],
    )
    # scheduler events of a job nobody submitted
    warehouse.execute(
        "insert into raw.scheduler_events select * replace ('no-such-job' as job_id) from raw.scheduler_events "
        "where event_at = (select max(event_at) from raw.scheduler_events) limit 1"
    )
    rows = run_suites(warehouse, tables=["raw.gpu_telemetry", "raw.scheduler_events"], run_at=datetime(2026, 3, 3))
    failed = _failed(rows)
    assert failed == {
        ("raw.gpu_telemetry", "compound_columns_to_be_unique", "gpu_id,ts"),
        ("raw.gpu_telemetry", "column_values_to_be_in_set", "gpu_id"),
        ("raw.gpu_telemetry", "column_values_to_be_between", "power_w"),
        ("raw.scheduler_events", "column_values_to_be_in_set", "job_id"),
    }
    power = next(r for r in rows if r["column_name"] == "power_w" and not r["success"])
    # the suite reads the newest 6 hours: 360-odd minutes of the one GPU
    assert power["condition"] == 'sku=="H100-SXM-80GB"' and power["unexpected_count"] >= 300
    ghost = next(r for r in rows if r["column_name"] == "gpu_id" and r["expectation"] == "column_values_to_be_in_set")
    assert "ghost-g0" in ghost["sample"] and ghost["unexpected_count"] == 1


def test_a_stale_source_fails_freshness(warehouse):
    warehouse.execute(
        "delete from raw.node_telemetry where ts > (select max(ts) - interval 2 hour from raw.node_telemetry)"
    )
    rows = run_suites(warehouse, tables=["raw.node_telemetry"], run_at=datetime(2026, 3, 3))
    assert _failed(rows) == {("raw.node_telemetry", "column_max_to_be_between", "ts")}


def test_an_unknown_expectation_is_a_clear_error(warehouse):
    suite = Suite("raw.inventory", [{"expect": "column_values_to_be_purple", "column": "sku"}])
    with pytest.raises(SuiteError, match="unknown expectation 'column_values_to_be_purple'"):
        run_suite(warehouse, suite, datetime(2026, 3, 3))


def test_the_report_and_the_command(incidents_db_path, tmp_path, capsys):
    db = tmp_path / "w.duckdb"
    clone(incidents_db_path, db)
    assert main(["quality", "--db", str(db), "--out", str(tmp_path / "reports")]) == 0
    assert "expectations hold" in capsys.readouterr().out
    page = (tmp_path / "reports" / "quality.html").read_text()
    assert "raw.gpu_telemetry" in page and "compound_columns_to_be_unique" in page
    with duckdb.connect(str(db), read_only=True) as con:
        assert render(latest_results(con)).count("class='fail'") == 0


def test_the_job_suite_reads_the_newest_day_of_submissions(warehouse):
    # the whole table went to GX as one pandas frame (958 MiB at 30 days of the default fleet); a day is enough to
    # guard a bad submission feed, and a job id repeated across days is the primary-key check's (SQL, every row)
    newest, total = warehouse.execute(
        "select max(submitted_at), count(*) from staging.stg_jobs__submissions"
    ).fetchall()[0]
    day = warehouse.execute(
        "select count(*) from staging.stg_jobs__submissions where submitted_at >= ?::timestamp - interval 24 hour",
        [newest],
    ).fetchall()[0][0]
    rows = run_suites(warehouse, tables=["staging.stg_jobs__submissions"], run_at=datetime(2026, 3, 3))
    assert 0 < day < total and [r["rows_checked"] for r in rows] == [day, day]


def test_every_suite_reads_a_partition_not_the_history():
    # GX takes a pandas frame: a suite without a partition holds the whole table in memory, growing with history
    assert [t for t, s in load_suites().items() if not (s.time_column and s.hours)] == []
