"""Anti-gaming flags: each flag on hand-made GPU minutes, and on the simulated dummy workload the gaming team's jobs
caught (>= 95 %) with almost no honest job caught (<= 1 %)."""

from datetime import datetime, timedelta

import duckdb
from dagster import materialize

from pipelines.modeling.project import load_project
from pipelines.modeling.runner import run_model
from pipelines.quality.gaming import flagged_teams, no_gaming
from pipelines.warehouse.publish import clone
from tests.fixtures.blank_warehouse import blank_warehouse

T0 = datetime(2026, 3, 2, 10, 0)


def _warehouse(jobs: dict[str, dict]) -> duckdb.DuckDBPyConnection:
    """One GPU per job for `minutes` minutes at the given utilisation, SM and tensor activity and steps a minute."""
    con = blank_warehouse()
    con.execute(
        "create table intermediate.int_gpu_minutes__allocation (gpu_id varchar, minute_at timestamp, job_id varchar,"
        " attempt integer)"
    )
    con.execute(
        "create table staging.stg_gpu_telemetry__minutes (gpu_id varchar, minute_at timestamp, gpu_util_pct double,"
        " sm_active_pct double, tensor_active_pct double, mem_used_mib bigint, node_id varchar)"
    )
    con.execute(
        "create table staging.stg_node_telemetry__minutes (node_id varchar, minute_at timestamp, cpu_util_pct double)"
    )
    con.execute(
        "create table staging.stg_runtime__worker_minutes (job_id varchar, attempt integer, minute_at timestamp,"
        " steps double)"
    )
    con.execute(
        "create table staging.stg_jobs__submissions (job_id varchar, team varchar, workload_class varchar,"
        " model_type varchar)"
    )
    for job, spec in jobs.items():
        con.execute("insert into staging.stg_jobs__submissions values (?, ?, 'batch', 'resnet50')", [job, spec["team"]])
        for minute in range(spec["minutes"]):
            at = T0 + timedelta(minutes=minute)
            con.execute(
                "insert into intermediate.int_gpu_minutes__allocation values (?, ?, ?, 0)", [f"g-{job}", at, job]
            )
            con.execute(
                "insert into staging.stg_gpu_telemetry__minutes values (?, ?, ?, ?, ?, null, null)",
                [f"g-{job}", at, spec["util"], spec["sm"], spec["tensor"]],
            )
            if spec["steps"]:
                con.execute(
                    "insert into staging.stg_runtime__worker_minutes values (?, 0, ?, ?)", [job, at, spec["steps"]]
                )
    return con


def test_each_flag_on_hand_made_jobs():
    con = _warehouse(
        {
            "honest": {"team": "a", "minutes": 60, "util": 98, "sm": 70, "tensor": 35, "steps": 10},
            "loop": {"team": "b", "minutes": 60, "util": 100, "sm": 95, "tensor": 1, "steps": 0},
            "no_sm": {"team": "b", "minutes": 40, "util": 99, "sm": None, "tensor": None, "steps": 0},
            "short": {"team": "b", "minutes": 20, "util": 99, "sm": None, "tensor": None, "steps": 0},
            "fake_steps": {"team": "c", "minutes": 30, "util": 0, "sm": 0, "tensor": 0, "steps": 50},
            "notebook": {"team": "a", "minutes": 60, "util": 15, "sm": 8, "tensor": 2, "steps": 0},
        }
    )
    for model in ("intermediate.int_jobs__activity_hours", "marts.fct_jobs__gaming_flags"):
        run_model(con, load_project()[model])
    rows = con.execute(
        "select job_id, is_busy_loop, is_busy_without_progress, is_progress_without_work, is_flagged "
        "from marts.fct_jobs__gaming_flags order by job_id"
    ).fetchall()
    assert rows == [
        ("fake_steps", False, False, True, True),  # 50 steps a minute on idle GPUs
        ("honest", False, False, False, False),
        ("loop", True, True, False, True),  # SMs spinning, tensor pipes idle, no steps
        ("no_sm", False, True, False, True),  # no SM counters: utilisation stands in, 40 busy minutes, no steps
        ("notebook", False, False, False, False),  # no steps, but not busy
        ("short", False, False, False, False),  # under 30 GPU-minutes: too short to call
    ]
    run_model(con, load_project()["marts.fct_teams__gaming_daily"])
    teams = {t["team"]: t for t in flagged_teams(con)}
    assert set(teams) == {"b", "c"} and teams["b"]["attempts"] == 2 and teams["b"]["gpu_hours"] == 1.7


def test_the_dummy_workload_is_caught_and_honest_jobs_are_not(incidents_db_path, truth):
    gaming = {job for incident in truth if incident["kind"] == "dummy_workload" for job in incident["job_ids"]}
    assert gaming
    with duckdb.connect(str(incidents_db_path), read_only=True) as con:
        flags = dict(
            con.execute("select job_id, bool_or(is_flagged) from marts.fct_jobs__gaming_flags group by 1").fetchall()
        )
    caught = sum(flags.get(job, False) for job in gaming) / len(gaming)
    honest = [flagged for job, flagged in flags.items() if job not in gaming]
    assert caught >= 0.95
    assert sum(honest) / len(honest) <= 0.01


def test_the_asset_check_names_the_gaming_team(incidents_db_path, tmp_path):

    from pipelines.modeling.assets import MODEL_ASSETS
    from pipelines.resources import Warehouse

    db = tmp_path / "w.duckdb"
    clone(incidents_db_path, db)
    flags = next(a for a in MODEL_ASSETS if a.key.path == ["marts", "fct_jobs__gaming_flags"])
    result = materialize(
        [flags, no_gaming], resources={"warehouse": Warehouse(db_path=str(db), landing_dir=str(tmp_path))}
    )
    (evaluation,) = result.get_asset_check_evaluations()
    teams = [t["team"] for t in evaluation.metadata["flagged_teams"].value]
    assert not evaluation.passed and teams == ["research"]
