"""Busy GPUs without training progress add nothing to productive time: by construction, not by a rule."""

from datetime import date, datetime, timedelta

import duckdb
import pytest

from pipelines.explain.decompose import DIMENSIONS
from pipelines.orchestration.build import build
from pipelines.semantic.query import query
from tests.fixtures.factors import FACTORS, worst_identity_gap
from tests.fixtures.tiny_fleet import write

T0 = datetime(2026, 3, 2, 10, 0)


def test_a_job_at_full_utilisation_without_steps_is_not_productive(tmp_path):
    # by hand: one GPU, one "training" job for an hour at 100 % utilisation and 95 % SM activity, no step records:
    # 10 minutes of start-up (retention) and 50 minutes without progress (step efficiency); goodput 0
    landing = tmp_path / "landing"
    write(
        landing,
        "inventory",
        [
            {
                "gpu_id": "n1-g0",
                "snapshot_date": date(2026, 3, 2),
                "gpu_index": 0,
                "node_id": "n1",
                "region": "r1",
                "sku": "H100-SXM-80GB",
                "gpu_mem_mib": 81559,
                "tdp_w": 700.0,
            }
        ],
    )
    write(
        landing,
        "gpu_telemetry",
        [
            {
                "ts": T0 + timedelta(minutes=m),
                "gpu_id": "n1-g0",
                "node_id": "n1",
                "gpu_util_pct": 100.0,
                "sm_active_pct": 95.0,
                "mem_used_mib": 2000,
                "power_w": 650.0,
                "temp_c": 70.0,
                "ecc_corrected_count": 0,
                "ecc_uncorrected_count": 0,
                "throttle_reasons": 0,
            }
            for m in range(60)
        ],
    )
    write(
        landing,
        "job_metadata",
        [
            {
                "job_id": "X",
                "submitted_at": T0,
                "team": "t",
                "region": "r1",
                "workload_class": "batch",
                "model_type": "resnet50",
                "requested_gpus": 1.0,
                "reports_steps": True,
            }
        ],
    )
    write(
        landing,
        "scheduler_events",
        [
            {"event_at": T0, "job_id": "X", "attempt": 0, "event_type": "submitted", "gpus": 1.0},
            {
                "event_at": T0,
                "job_id": "X",
                "attempt": 0,
                "event_type": "started",
                "gpus": 1.0,
                "node_ids": "n1",
                "gpu_ids": "n1-g0",
            },
            {
                "event_at": T0 + timedelta(hours=1),
                "job_id": "X",
                "attempt": 0,
                "event_type": "ended",
                "gpus": 1.0,
                "node_ids": "n1",
                "gpu_ids": "n1-g0",
                "state": "completed",
                "exit_code": 0,
            },
        ],
    )
    build(landing, tmp_path / "w.duckdb", progress=False)
    con = duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True)
    row = con.execute("""select sum(paid_gpu_min), sum(allocated_gpu_min), sum(productive_gpu_min),
        sum(loss_startup_gpu_min), sum(loss_no_progress_gpu_min) from marts.fct_goodput__gpu_minutes""").fetchone()
    assert [float(v) for v in row] == [60.0, 60.0, 0.0, 10.0, 50.0]


def test_the_dummy_workload_scenario_earns_no_productive_time(incidents_db_path, truth):
    dummy = next(t for t in truth if t["kind"] == "dummy_workload")
    start = datetime.fromisoformat(dummy["start_at"].rstrip("Z"))
    con = duckdb.connect(str(incidents_db_path), read_only=True)
    productive, no_progress, busy = con.execute(
        """
        with dummy_jobs as (
            select job_id from staging.stg_jobs__submissions
            where team = $team and reports_steps and submitted_at >= $start
              and submitted_at < $start + interval 20 minute and requested_gpus = 4
              and job_id not in (select job_id from staging.stg_runtime__worker_minutes)
        )
        select sum(f.productive_gpu_min), sum(f.loss_no_progress_gpu_min), avg(t.gpu_util_pct)
        from marts.fct_goodput__gpu_minutes as f
        join staging.stg_gpu_telemetry__minutes as t using (gpu_id, minute_at)
        where f.job_id in (select job_id from dummy_jobs)""",
        {"team": dummy["scope"]["team"], "start": start},
    ).fetchone()
    assert busy > 90  # the GPUs look fully used
    assert productive == 0 and no_progress > 100
    # while the same team's real training in the same hours did earn productive time
    assert (
        con.execute(
            "select sum(productive_gpu_min) from marts.fct_goodput__gpu_minutes where team = $team",
            {"team": dummy["scope"]["team"]},
        ).fetchone()[0]
        > 0
    )
    con.close()


@pytest.mark.parametrize("grain", ["5min", "hour"])
def test_identity_holds_on_every_slice_of_a_realistic_fleet(incidents_db_path, grain):
    frame = query(FACTORS, by=list(DIMENSIONS), grain=grain, db=incidents_db_path)
    assert len(frame) > 1000 and worst_identity_gap(frame) < 1e-12
