"""Paid time follows the inventory snapshots: a snapshot holds until the next one, so data past midnight of the last
snapshot (a scenario or an export that does not start at midnight) is still paid, and a GPU a later snapshot leaves
out stops being paid from that day.

Worked out by hand: snapshots on 03-02 (g1, g2) and 03-03 (g1 only); telemetry of both GPUs from 03-02 23:58 to
03-04 00:02 (1,444 minutes each). g1 is paid every minute: 1,444. g2 is paid until the 03-03 snapshot drops it: 2.
A snapshot that lands late, after a tick computed its day's minutes with the one before, restates those minutes."""

from datetime import date, datetime, timedelta

from pipelines.orchestration.build import build
from pipelines.orchestration.tick import tick
from pipelines.warehouse.connection import connect
from tests.fixtures.tiny_fleet import write

START = datetime(2026, 3, 2, 23, 58)
MINUTES = 1444


GPU = {"node_id": "n1", "rack_id": "r1", "region": "r1", "sku": "H100-SXM-80GB", "gpu_mem_mib": 81559, "tdp_w": 700.0}
IDLE = {"gpu_util_pct": 0.0, "mem_used_mib": 0, "power_w": 60.0, "temp_c": 30.0}


def _snapshot(gpu_id: str, day: date) -> dict:
    return {"gpu_id": gpu_id, "snapshot_date": day, "gpu_index": int(gpu_id[1:]) - 1, **GPU}


def _telemetry(minutes: range) -> list[dict]:
    return [
        {"ts": START + timedelta(minutes=m), "gpu_id": g, "node_id": "n1", **IDLE}
        for g in ("g1", "g2")
        for m in minutes
    ]


def _paid(db) -> list[tuple]:
    with connect(db, read_only=True) as con:
        return con.sql(
            "select gpu_id, sum(paid_gpu_min), min(minute_at), max(minute_at) from marts.fct_goodput__gpu_minutes "
            "group by all order by all"
        ).fetchall()


def test_a_snapshot_holds_until_the_next_one(tmp_path):
    landing = tmp_path / "landing"
    day1, day2 = date(2026, 3, 2), date(2026, 3, 3)
    write(landing, "inventory", [_snapshot("g1", day1), _snapshot("g2", day1), _snapshot("g1", day2)])
    write(landing, "gpu_telemetry", _telemetry(range(MINUTES)))
    db = tmp_path / "w.duckdb"
    build(landing, db, progress=False)
    assert _paid(db) == [
        ("g1", 1444.0, START, START + timedelta(minutes=MINUTES - 1)),
        ("g2", 2.0, START, datetime(2026, 3, 2, 23, 59)),
    ]


def test_a_late_snapshot_restates_the_minutes_a_tick_paid_with_the_one_before(tmp_path):
    landing = tmp_path / "landing"
    day1, day2 = date(2026, 3, 2), date(2026, 3, 3)
    write(landing, "inventory", [_snapshot("g1", day1), _snapshot("g2", day1)])
    write(landing, "gpu_telemetry", _telemetry(range(62)))  # 23:58 to 01:00: g2 is paid all 62 minutes
    db = tmp_path / "w.duckdb"
    build(landing, db, progress=False)
    assert _paid(db)[1][1] == 62.0
    # the 03-03 snapshot (without g2) lands with the next five minutes: g2's minutes from midnight are no longer paid
    write(landing, "inventory", [_snapshot("g1", day2)], part=1)
    write(landing, "gpu_telemetry", _telemetry(range(62, 67)), part=1)
    tick(landing, db)
    assert _paid(db) == [
        ("g1", 67.0, START, START + timedelta(minutes=66)),
        ("g2", 2.0, START, datetime(2026, 3, 2, 23, 59)),
    ]
