"""The report pages from the command line, their windows, the campaign control table and unclassified jobs."""

from datetime import datetime

import duckdb
import polars as pl
import pytest

from pipelines.cli import main
from pipelines.modeling.project import load_project
from pipelines.modeling.runner import run_model
from pipelines.reports.health import family_status, sizing_class
from pipelines.reports.warroom import incident_window
from pipelines.warehouse.layout import working_path
from pipelines.warehouse.publish import clone
from tests.fixtures.blank_warehouse import blank_warehouse

PAGES = ("index.html", "finance.html", "health.html", "warroom.html", "progress.html")


def test_report_all_writes_every_page_and_the_index_links_them(reports_dir):
    for page in PAGES:
        text = (reports_dir / page).read_text()
        assert text.startswith("<!doctype html>") and "data from" in text
        assert "<script src=" not in text and "<link " not in text  # plotly.js inlined: opens offline
    index = (reports_dir / "index.html").read_text()
    assert all(f"href='{page}'" in index for page in PAGES[1:])
    assert (reports_dir / "runbooks" / "ecc_uncorrectable.html").exists()


def test_one_report_by_name_and_an_unknown_window_is_a_clear_error(report_db, tmp_path, capsys):
    assert main(["report", "finance", "--db", str(report_db), "--out", str(tmp_path)]) == 0
    assert (tmp_path / "finance.html").exists() and not (tmp_path / "health.html").exists()
    code = main(["report", "health", "--db", str(report_db), "--out", str(tmp_path), "--from", "2030-01-01T00:00:00Z"])
    assert code == 2 and "holds no data" in capsys.readouterr().err


def test_warroom_defaults_to_the_largest_goodput_drop(incidents_db, truth):
    window = incident_window(incidents_db, None, None)
    series = incidents_db.execute(
        "select bucket_at, sum(productive_gpu_min) / sum(paid_gpu_min) from marts.fct_goodput__5min group by 1"
    ).fetchall()
    # the window holds a simulated incident, and its goodput is lower than the data's as a whole
    assert any(
        datetime.fromisoformat(i["start_at"][:19]) < window.end
        and datetime.fromisoformat(i["end_at"][:19]) > window.start
        for i in truth
    )
    inside = [g for at, g in series if window.start <= at < window.end]
    assert sum(inside) / len(inside) < sum(g for _, g in series) / len(series)


def test_campaigns_register_inactive_and_activate_from_the_cli(report_db, reports_dir, capsys):
    con = duckdb.connect(str(report_db), read_only=True)
    pairs = con.execute(
        "select count(*) from (select distinct team, workload_class from staging.stg_jobs__submissions)"
    ).fetchall()[0][0]
    registered = con.execute("select count(*), count(*) filter (where is_active) from control.campaigns").fetchall()
    assert registered == [(pairs, 0)] and pairs > 0
    team, cls = con.execute("select team, workload_class from control.campaigns order by all limit 1").fetchall()[0]
    con.close()
    assert main(["campaign", "activate", team, cls, "--expected", "40", "--db", str(report_db)]) == 0
    con = duckdb.connect(str(report_db), read_only=True)
    row = con.execute(
        "select is_active, jobs_expected from control.campaigns where team = ? and workload_class = ?", [team, cls]
    ).fetchall()
    con.close()
    assert row == [(True, 40)]
    assert main(["campaign", "activate", "nobody", "batch", "--db", str(report_db)]) == 2
    assert "no campaign nobody/batch" in capsys.readouterr().err


def test_jobs_without_metadata_are_unclassified():
    con = duckdb.connect()
    con.execute("create schema staging")
    con.execute(
        "create table staging.stg_scheduler__events as select * from (values "
        "('j1', 0, timestamp '2026-03-02 10:00', 'gpu', 1.0), ('j2', 0, timestamp '2026-03-02 10:01', 'gpu', 2.0), "
        "('j2', 1, timestamp '2026-03-02 10:30', 'gpu', 2.0)) t (job_id, attempt, event_at, queue, gpus)"
    )
    con.execute("create table staging.stg_jobs__submissions as select 'j1' as job_id")
    run_model(con, load_project()["marts.fct_jobs__unclassified"])
    rows = con.execute(
        "select job_id, attempts, first_seen_at, last_seen_at from marts.fct_jobs__unclassified"
    ).fetchall()
    # j1 has metadata; j2 does not, and ran twice
    assert rows == [("j2", 2, datetime(2026, 3, 2, 10, 1), datetime(2026, 3, 2, 10, 30))]


@pytest.mark.parametrize(
    ("alerts", "expected"),
    [
        ([], "green"),  # nothing raised
        ([("page", None)], "red"),  # a page still open at the end of the window
        ([("page", datetime(2026, 3, 2, 9))], "yellow"),  # a page that fired and resolved in the window
        ([("ticket", None)], "yellow"),  # an open ticket
        ([("dashboard", None)], "green"),  # dashboard-only alerts do not colour the bar
    ],
)
def test_family_status_colours(alerts, expected):
    frame = pl.DataFrame(
        [{"family": "hardware", "intent": i, "rule": "r", "resolved_at": r} for i, r in alerts],
        schema={"family": pl.String, "intent": pl.String, "rule": pl.String, "resolved_at": pl.Datetime},
    )
    assert family_status(frame, datetime(2026, 3, 2, 12))["hardware"][0] == expected


@pytest.mark.parametrize(("share", "css"), [(0.3, "yellow"), (0.7, "green"), (0.99, "red"), (None, "grey")])
def test_sizing_bands(share, css):
    assert sizing_class(share) == css


def test_sizing_by_hand_from_gpu_minutes_to_the_class_table():
    """Job j1 (2 GPUs on node n1, asks 40 GiB a GPU and 24 CPUs) uses 10 then 30 GiB while n1's CPUs are 40 then
    60 % busy: its peak is 30 GiB (0.75 of the request), its nodes' CPUs 50 % busy, 12 CPUs asked per GPU."""
    from datetime import timedelta

    from pipelines.reports.data import Window
    from pipelines.reports.health import sizing

    t0 = datetime(2026, 3, 2, 10)
    con = blank_warehouse()
    con.execute(
        "create table intermediate.int_gpu_minutes__allocation as select * from (values "
        "('n1-g0', ?::timestamp, 'j1', 0), ('n1-g1', ?::timestamp, 'j1', 0), ('n1-g0', ?::timestamp, 'j1', 0), "
        "('n1-g1', ?::timestamp, 'j1', 0)) t (gpu_id, minute_at, job_id, attempt)",
        [t0, t0, t0 + timedelta(minutes=1), t0 + timedelta(minutes=1)],
    )
    con.execute(
        "create table staging.stg_gpu_telemetry__minutes as select gpu_id, minute_at, 'n1' as node_id, "
        "90.0 as gpu_util_pct, 80.0 as sm_active_pct, 30.0 as tensor_active_pct, "
        "case when minute_at = ? then 10240 else 30720 end as mem_used_mib "
        "from intermediate.int_gpu_minutes__allocation",
        [t0],
    )
    con.execute(
        "create table staging.stg_node_telemetry__minutes as select * from (values ('n1', ?::timestamp, 40.0), "
        "('n1', ?::timestamp, 60.0)) t (node_id, minute_at, cpu_util_pct)",
        [t0, t0 + timedelta(minutes=1)],
    )
    con.execute(
        "create table staging.stg_runtime__worker_minutes (job_id varchar, attempt integer, minute_at timestamp, "
        "steps double)"
    )
    run_model(con, load_project()["intermediate.int_jobs__activity_hours"])
    assert con.execute(
        "select peak_mem_used_mib, node_cpu_pct_sum, node_cpu_readings from intermediate.int_jobs__activity_hours"
    ).fetchall() == [(30720, 200.0, 4)]  # two GPU-minutes a minute, each reading the node's CPU
    con.execute(
        "create table marts.dim_jobs as select 'j1' as job_id, 'batch' as workload_class, 40.0 as "
        "requested_gpu_mem_gib, 24 as requested_cpus, 2.0 as requested_gpus"
    )
    row = sizing(con, Window(t0, t0 + timedelta(hours=1))).row(0, named=True)
    assert row["peak_gpu_mem_used_gib"] == 30.0 and row["gpu_mem_used_share"] == 0.75
    assert row["requested_cpus_per_gpu"] == 12.0 and row["node_cpu_busy_pct"] == 50.0


def test_the_dagster_asset_writes_the_pages_and_the_check_counts_unclassified_jobs(report_db, tmp_path):
    from dagster import materialize

    from pipelines.reports.assets import no_unclassified_jobs, report_pages
    from pipelines.resources import Warehouse

    warehouse = Warehouse(db_path=str(report_db), reports_dir=str(tmp_path / "pages"))
    result = materialize([report_pages], resources={"warehouse": warehouse})
    assert result.success
    assert {p.name for p in (tmp_path / "pages").glob("*.html")} == set(PAGES)
    # the check on the simulated fleet: every job has metadata
    outcome = no_unclassified_jobs(warehouse=warehouse)
    assert outcome.passed and outcome.metadata["unclassified_jobs"].value == 0


def test_factor_totals_of_the_gauges_and_the_index_by_hand(tiny_db):
    """The tiny fleet's hour (tests/fixtures/tiny_fleet.py): paid 240, healthy 219, allocated 139, retained 129,
    productive 81.1 GPU-minutes."""
    from pipelines.reports.health import factor_totals

    totals = factor_totals(tiny_db, datetime(2026, 3, 2, 10), datetime(2026, 3, 2, 11))
    expected = {
        "goodput": 81.1 / 240,
        "availability": 219 / 240,
        "allocation": 139 / 219,
        "retention": 129 / 139,
        "step_efficiency": 81.1 / 129,
    }
    assert totals == pytest.approx(expected, abs=1e-9)


def test_campaign_progress_by_hand(tiny_db_path, tmp_path):
    """Tiny fleet: team t1 runs batch jobs A (completes at 11:00), B (fails at 10:30) and D (never starts); team t2
    runs notebook C, still running at 11:00."""

    from pipelines.reports.campaigns import activate, register_new
    from pipelines.reports.data import Window
    from pipelines.reports.progress import campaign_table

    db = tmp_path / "w.duckdb"
    clone(tiny_db_path, db)
    con = duckdb.connect(str(working_path(db)))  # campaigns are registered by writers
    # the build registered both pairs (writers do, readers cannot): once each
    assert con.execute("select count(*) from control.campaigns").fetchone()[0] == 2 and register_new(con) == 0
    activate(con, "t1", "batch", jobs_expected=4)
    table = campaign_table(con, Window(datetime(2026, 3, 2, 9), datetime(2026, 3, 2, 11)))
    rows = {r["team"]: r for r in table.iter_rows(named=True)}
    t1, t2 = rows["t1"], rows["t2"]
    assert (t1["is_active"], t1["submitted"], t1["running"], t1["finished"], t1["failed"]) == (True, 3, 0, 1, 1)
    assert t1["completion_pct"] == pytest.approx(25.0)  # 1 finished of 4 expected
    assert t1["failure_pct"] == pytest.approx(50.0)  # 1 failed of 2 ended
    assert t1["finished_per_h"] == pytest.approx(1 / 24)  # A, in the last 24 hours
    assert (t2["is_active"], t2["submitted"], t2["running"], t2["finished"]) == (False, 1, 1, 0)
    assert t2["completion_pct"] == pytest.approx(0.0)  # nothing expected yet: over the 1 submitted
    con.close()


def test_sla_penalty_exposure_by_hand():
    """Two deadlines in the window, one met and one missed by 2 hours: 1,000 USD for the miss plus 250 USD an hour
    late (pipelines/config/reports.yml) = 1,500 USD."""
    from pipelines.reports.data import Window
    from pipelines.reports.warroom import _sla

    con = duckdb.connect()
    con.execute("create schema marts")
    con.execute(
        "create table marts.fct_pipelines__deadlines as select * from (values "
        "('p1', 'ml', 'r1', 'retrain', timestamp '2026-03-02 10:00', timestamp '2026-03-02 09:50', 1, -0.2), "
        "('p2', 'ml', 'r1', 'retrain', timestamp '2026-03-02 10:30', null, 0, 2.0)) "
        "t (job_id, team, region, workload_class, deadline_at, completed_at, met, hours_late)"
    )
    body, _ = _sla(con, Window(datetime(2026, 3, 2, 9), datetime(2026, 3, 2, 12)))
    assert "$1,500<small>penalty exposure" in body
    assert "2<small>deadlines due" in body and "1<small>met" in body


def test_pages_carry_the_small_plotly_bundle_unless_a_chart_needs_the_full_one(reports_dir):
    """Parsing plotly.js is most of a page's load: the four reports draw only traces of Plotly's finance bundle
    (1.3 MB); a page with a trace outside it (a sunburst) still gets the full bundle (4.8 MB)."""
    import plotly.graph_objects as go

    from pipelines.reports.page import Page, plotly_bundle, plotly_js, vendored_finance_js

    for name in PAGES[1:]:
        assert (reports_dir / name).stat().st_size < 2_000_000, name
    assert plotly_bundle({"scatter", "bar", "indicator", "waterfall"}) == vendored_finance_js()
    page = Page("t", "t", None, None)
    page.figure(go.Figure(go.Sunburst(ids=["a"], labels=["a"], parents=[""], values=[1])))
    assert plotly_bundle(page.trace_types) == plotly_js()


def test_the_warrooms_default_window_is_a_drop_of_goodput_itself(incidents_db):
    """The window is chosen on goodput where there was work; the page explains goodput itself against the 24 hours
    before, and that must have fallen too (a dip of demand-adjusted goodput can be a rise of goodput)."""
    from datetime import timedelta

    from pipelines.explain.run import explain_con

    window = incident_window(incidents_db, None, None)
    where = {"region": [window.region]} if window.region else {}
    tree = explain_con(incidents_db, window.start, window.end, window.start - timedelta(hours=24), window.start, where)
    assert tree["current_goodput"] < tree["baseline_goodput"]
