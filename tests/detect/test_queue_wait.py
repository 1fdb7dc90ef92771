"""The queue wait of each workload class, known while jobs still wait: the mart on the hand-made fleet, and the
detector against the same class in the other regions (a new install) or its own history."""

from datetime import datetime, timedelta

import polars as pl
import pytest

from pipelines.detect.config import detection_config
from pipelines.detect.episodes import episodes
from pipelines.detect.signals import CLASS_KEYS, against_baseline

T0 = datetime(2026, 3, 2, 10, 0)


def test_the_oldest_wait_of_a_class_against_its_slo(tiny_db):
    # job D (batch, 1 GPU, SLO 30 min) queued at 09:59:30 and still waits at 11:00
    rows = tiny_db.sql(
        "select minute_at, pending_jobs, pending_gpus, oldest_wait_s, slo_s, oldest_wait_slo_ratio "
        "from marts.fct_scheduler__class_queue_minutes where region = 'r1' and workload_class = 'batch' "
        "order by minute_at"
    ).fetchall()
    assert len(rows) == 60
    assert rows[0] == (T0, 1, 1.0, 30, 1800, pytest.approx(30 / 1800))
    assert rows[30][0] == T0 + timedelta(minutes=30) and rows[30][3] == 1830
    assert rows[-1][3] == 3570 and rows[-1][5] == pytest.approx(3570 / 1800)
    # the region's pending demand is the sum over its classes: the one GPU D asks for, every minute
    demand = tiny_db.sql(
        "select count(*), min(pending_gpus), max(pending_gpus) from intermediate.int_regions__pending_demand"
    ).fetchall()
    assert demand == [(60, 1.0, 1.0)]
    # D's one GPU fits on one node all hour: n2-g1 is free until n2's maintenance at 10:50, n1-g1 from B's failure at
    # 10:30 (a scheduler that started nothing then would be down, not busy)
    fits = tiny_db.sql(
        "select count(*) filter (where a_waiting_job_fits), min(largest_free_on_a_node) "
        "from marts.fct_scheduler__region_minutes where region = 'r1'"
    ).fetchall()
    assert fits == [(60, 1.0)]


def _class(region: str, workload_class: str, values: list[float]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "region": [region] * len(values),
            "workload_class": [workload_class] * len(values),
            "minute_at": [T0 + timedelta(minutes=i) for i in range(len(values))],
            "value": values,
        }
    )


def _new_install() -> pl.DataFrame:
    """The first hour of three regions: retrain waits one SLO in r1 and r2, while r3 starts the hour with a retrain
    job that has already waited seven (SLO 15 min: its ratio grows by 1/15 a minute); batch waits five SLOs everywhere
    (a fleet-wide backlog)."""
    steady = [1.0] * 60
    return pl.concat(
        [
            _class("r1", "retrain", steady),
            _class("r2", "retrain", steady),
            _class("r3", "retrain", [7 + m / 15 for m in range(60)]),
            *[_class(r, "batch", [5.0] * 60) for r in ("r1", "r2", "r3")],
        ]
    )


def test_a_starved_class_is_held_against_the_same_class_in_the_other_regions():
    config = detection_config()
    det = config.detectors["queue_wait"]
    hits = against_baseline(_new_install(), CLASS_KEYS, det, config)
    # r3's retrain wait reaches eight SLOs (over five times its peers' median of one SLO) at minute 15
    assert hits.select("region", "workload_class").unique().rows() == [("r3", "retrain")]
    assert hits["minute_at"].min() == T0 + timedelta(minutes=15)
    assert hits["baseline"].unique().to_list() == [1.0]
    found = episodes(hits, CLASS_KEYS, det.persistence_min, T0 + timedelta(minutes=60))
    assert found["started_at"].to_list() == [T0 + timedelta(minutes=15)]
    assert found["detected_at"].to_list() == [T0 + timedelta(minutes=45)]  # 30 minutes held, at that tick
    # held against every class at once, the batch backlog would have hidden it (peers' median of five SLOs)
    mixed = against_baseline(_new_install(), CLASS_KEYS, det.model_copy(update={"peers_by": []}), config)
    assert mixed.is_empty()


def test_a_job_stuck_after_a_normal_day_is_held_against_the_class_own_history():
    config = detection_config()
    det = config.detectors["queue_wait"]
    # a day at one SLO, then a retrain job (SLO 15 min) that does not start: eight SLOs at minute 120 of its wait
    day = 1440
    series = _class("r1", "retrain", [1.0] * day + [m / 15 for m in range(180)])
    hits = against_baseline(series, CLASS_KEYS, det, config)
    assert hits["minute_at"].min() == T0 + timedelta(minutes=day + 120)
    assert hits["baseline"].unique().to_list() == [1.0]
    found = episodes(hits, CLASS_KEYS, det.persistence_min, T0 + timedelta(minutes=day + 180))
    assert found["detected_at"].to_list() == [T0 + timedelta(minutes=day + 150)]


def test_a_wait_as_long_as_the_class_usually_has_is_not_flagged():
    config = detection_config()
    det = config.detectors["queue_wait"]
    # two days of one region's retrain class waiting ten SLOs every minute: long, but what it always does
    usual = _class("r1", "retrain", [10.0] * (2 * 1440))
    assert against_baseline(usual, CLASS_KEYS, det, config).is_empty()
