"""Health rules per SKU on hand-made GPU minutes: the same reading alerts on one SKU and not on another,
persistence edges, maintenance suppression, and the drain list."""

from datetime import datetime, timedelta

import duckdb
import pytest

from pipelines.detect.config import health_config
from pipelines.detect.health import health_episodes
from tests.fixtures.blank_warehouse import blank_warehouse

T0 = datetime(2026, 3, 2, 10, 0)
GPUS = [("a0", "na", "A100-SXM-80GB", 400.0), ("h0", "nh", "H100-SXM-80GB", 700.0)]


def _warehouse(readings: dict[str, list[dict]], maintenance: list[tuple[str, int]] = ()) -> duckdb.DuckDBPyConnection:
    """30 minutes of normal readings per GPU, with `readings[gpu][minute]` overrides."""
    con = blank_warehouse()
    con.execute(
        "create table marts.dim_gpus (gpu_id varchar, node_id varchar, region varchar, sku varchar, tdp_w double, "
        "gpu_mem_mib bigint)"
    )
    con.execute(
        "create table staging.stg_gpu_telemetry__minutes (gpu_id varchar, node_id varchar, minute_at timestamp, "
        "temp_c double, power_w double, throttle_reasons bigint, ecc_corrected_count bigint, "
        "ecc_uncorrected_count bigint, xid integer, mem_used_mib bigint)"
    )
    con.execute("create table intermediate.int_nodes__maintenance_minutes (node_id varchar, minute_at timestamp)")
    for gpu, node, sku, tdp in GPUS:
        con.execute("insert into marts.dim_gpus values (?, ?, 'r1', ?, ?, 81920)", [gpu, node, sku, tdp])
        for minute in range(30):
            row = {"temp_c": 60.0, "power_w": 0.8 * tdp, "throttle_reasons": 0, "ecc_c": 0, "ecc_u": 0, "xid": None}
            row |= readings.get(gpu, {}).get(minute, {})
            con.execute(
                "insert into staging.stg_gpu_telemetry__minutes values (?, ?, ?, ?, ?, ?, ?, ?, ?, 1000)",
                [gpu, node, T0 + timedelta(minutes=minute), row["temp_c"], row["power_w"], row["throttle_reasons"]]
                + [row["ecc_c"], row["ecc_u"], row["xid"]],
            )
    for node, minute in maintenance:
        con.execute(
            "insert into intermediate.int_nodes__maintenance_minutes values (?, ?)",
            [node, T0 + timedelta(minutes=minute)],
        )
    return con


def _rules(con) -> dict[str, list]:
    found = health_episodes(con, health_config(), (T0, T0 + timedelta(minutes=30)))
    out: dict[str, list] = {}
    for row in found.sort("started_at").iter_rows(named=True):
        out.setdefault(row["rule"], []).append((row["gpu_id"], row["started_at"], row["detected_at"]))
    return out


def _hot(minutes, temp):
    return {m: {"temp_c": temp} for m in minutes}


@pytest.mark.parametrize(
    ("readings", "rule", "expected_gpus"),
    [
        # 84 C is over the A100's warning line (83) and under the H100's (85): per SKU
        ({"a0": _hot(range(5, 10), 84.0), "h0": _hot(range(5, 10), 84.0)}, "thermal_warning", ["a0"]),
        # four minutes hot, warning needs five: nothing
        ({"a0": _hot(range(5, 9), 84.0)}, "thermal_warning", []),
        # 420 W is 105% of an A100's 400 W and 60% of an H100's 700 W
        (
            {"a0": {m: {"power_w": 420.0} for m in range(3)}, "h0": {m: {"power_w": 420.0} for m in range(3)}},
            "power_spike",
            ["a0"],
        ),
        # the hardware thermal slowdown bit (0x40) for three minutes
        ({"h0": {m: {"throttle_reasons": 0x40 | 0x1} for m in range(10, 13)}}, "thermal_throttling", ["h0"]),
        # the idle bit alone is not throttling
        ({"h0": {m: {"throttle_reasons": 0x1} for m in range(10, 13)}}, "thermal_throttling", []),
        # one uncorrectable error is enough
        ({"a0": {7: {"ecc_u": 1}}}, "ecc_uncorrectable", ["a0"]),
        # three correctable errors a minute, sustained three minutes (5-minute sums >= 3)
        ({"h0": {m: {"ecc_c": 3} for m in range(10, 13)}}, "ecc_correctable_spike", ["h0"]),
        # XID 79 is fatal; XID 13 is an application fault, not hardware
        ({"a0": {4: {"xid": 79}}, "h0": {4: {"xid": 13}}}, "fatal_xid", ["a0"]),
    ],
)
def test_rule_fires_per_sku_and_persistence(readings, rule, expected_gpus):
    found = _rules(_warehouse(readings))
    assert sorted({gpu for gpu, _, _ in found.get(rule, [])}) == expected_gpus


def test_started_and_detected_times():
    found = _rules(_warehouse({"a0": _hot(range(5, 10), 84.0)}))
    (gpu, started, detected) = found["thermal_warning"][0]
    assert started == T0 + timedelta(minutes=5)  # when the condition began in the data
    assert detected == T0 + timedelta(minutes=10)  # minute 10:09 completes the 5 minutes -> the 10:10 tick


def test_planned_maintenance_silences_its_nodes():
    readings = {"a0": _hot(range(5, 10), 95.0)}
    assert "thermal_critical" in _rules(_warehouse(readings))
    assert _rules(_warehouse(readings, [("na", m) for m in range(30)])) == {}


def test_temperature_trend_warns_before_the_critical_line():
    # climbing 1 C a minute from 78 C: the A100's critical line (88 C) is minutes away and not yet crossed
    readings = {"a0": {m: {"temp_c": 70.0 + m} for m in range(8, 16)}}
    found = _rules(_warehouse(readings))
    assert "temp_c_trend" in found
    assert "thermal_critical" not in found
