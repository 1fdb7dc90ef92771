"""Paid time follows the inventory snapshots: a snapshot holds until the next one, so data past midnight of the last
snapshot (a scenario or an export that does not start at midnight) is still paid, and a GPU a later snapshot leaves
out stops being paid from that day.

Worked out by hand: snapshots on 03-02 (g1, g2) and 03-03 (g1 only); telemetry of both GPUs from 03-02 23:58 to
03-04 00:02 (1,444 minutes each). g1 is paid every minute: 1,444. g2 is paid until the 03-03 snapshot drops it: 2."""

from datetime import date, datetime, timedelta

from pipelines.ingest.load import connect
from pipelines.orchestration.build import build
from tests.fixtures.tiny_fleet import write

START = datetime(2026, 3, 2, 23, 58)
MINUTES = 1444


def test_a_snapshot_holds_until_the_next_one(tmp_path):
    landing = tmp_path / "landing"
    gpu = {
        "node_id": "n1",
        "rack_id": "r1",
        "region": "r1",
        "sku": "H100-SXM-80GB",
        "gpu_mem_mib": 81559,
        "tdp_w": 700.0,
    }
    write(
        landing,
        "inventory",
        [
            {"gpu_id": "g1", "snapshot_date": date(2026, 3, 2), "gpu_index": 0, **gpu},
            {"gpu_id": "g2", "snapshot_date": date(2026, 3, 2), "gpu_index": 1, **gpu},
            {"gpu_id": "g1", "snapshot_date": date(2026, 3, 3), "gpu_index": 0, **gpu},
        ],
    )
    idle = {"gpu_util_pct": 0.0, "mem_used_mib": 0, "power_w": 60.0, "temp_c": 30.0}
    write(
        landing,
        "gpu_telemetry",
        [
            {"ts": START + timedelta(minutes=m), "gpu_id": g, "node_id": "n1", **idle}
            for g in ("g1", "g2")
            for m in range(MINUTES)
        ],
    )
    db = tmp_path / "w.duckdb"
    build(landing, db, progress=False)
    with connect(db, read_only=True) as con:
        paid = con.sql(
            "select gpu_id, sum(paid_gpu_min), min(minute_at), max(minute_at) from marts.fct_goodput__gpu_minutes "
            "group by all order by all"
        ).fetchall()
    assert paid == [
        ("g1", 1444.0, START, START + timedelta(minutes=MINUTES - 1)),
        ("g2", 2.0, START, datetime(2026, 3, 2, 23, 59)),
    ]
