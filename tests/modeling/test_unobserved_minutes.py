"""A GPU that sends no telemetry and holds no job is a data gap, never a healthy idle GPU.

Worked out by hand: one snapshot of g1 and g2; g1 reports every minute of 10:00-11:00, g2 only 10:00-10:09 and
10:50-10:59, and no job runs. Both are paid the hour's 60 minutes. g1: healthy 60, all idle for want of demand.
g2: healthy 20 (idle, no demand), 40 minutes unobserved, an availability loss of the telemetry family. Availability
is 80 / 120; explain puts those 40 minutes under `unobserved` [telemetry]."""

from datetime import date, datetime, timedelta

import pytest

from pipelines.explain.run import explain_db
from pipelines.orchestration.build import build
from pipelines.warehouse.connection import connect
from tests.fixtures.tiny_fleet import write

START = datetime(2026, 3, 2, 10, 0)
GPU = {"node_id": "n1", "rack_id": "r1", "region": "r1", "sku": "H100-SXM-80GB", "gpu_mem_mib": 81559, "tdp_w": 700.0}
IDLE = {"node_id": "n1", "gpu_util_pct": 0.0, "mem_used_mib": 0, "power_w": 60.0, "temp_c": 30.0}


def test_a_gpu_that_sends_nothing_and_holds_no_job_is_a_data_gap_not_an_idle_gpu(tmp_path):
    landing = tmp_path / "landing"
    write(
        landing,
        "inventory",
        [{"gpu_id": g, "snapshot_date": date(2026, 3, 2), "gpu_index": i, **GPU} for i, g in enumerate(("g1", "g2"))],
    )
    seen = {"g1": range(60), "g2": [*range(10), *range(50, 60)]}
    write(
        landing,
        "gpu_telemetry",
        [{"ts": START + timedelta(minutes=m), "gpu_id": g, **IDLE} for g, minutes in seen.items() for m in minutes],
    )
    db = tmp_path / "w.duckdb"
    build(landing, db, progress=False)
    with connect(db, read_only=True) as con:
        rows = con.sql(
            "select gpu_id, sum(paid_gpu_min), sum(healthy_gpu_min), sum(loss_unobserved_gpu_min), "
            "sum(loss_no_demand_gpu_min) from marts.fct_goodput__gpu_minutes group by all order by all"
        ).fetchall()
        hourly = con.sql(
            "select sum(healthy_gpu_min) / sum(paid_gpu_min), sum(loss_unobserved_gpu_min) "
            "from marts.fct_goodput__hourly"
        ).fetchall()
    assert [tuple(float(v) for v in r[1:]) for r in rows] == [(60, 60, 0, 60), (60, 20, 40, 20)]
    assert hourly[0][0] == pytest.approx(80 / 120) and hourly[0][1] == 40
    tree = explain_db(
        db, START + timedelta(minutes=30), START + timedelta(minutes=60), START, START + timedelta(minutes=30)
    )
    reasons = {r["reason"]: r for f in tree["factors"] for r in f["reasons"]}
    assert reasons["unobserved"]["family"] == "telemetry"
    assert tree["families_excess_gpu_hours"]["telemetry"] == pytest.approx(0.0)  # 20 unseen minutes in both halves
