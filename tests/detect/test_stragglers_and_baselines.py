"""Stragglers against their peers, and the baseline/peer logic of the statistical detectors, on hand-made series."""

from datetime import datetime, timedelta

import duckdb
import polars as pl

from pipelines.detect.config import Detector, detection_config
from pipelines.detect.signals import against_baseline
from pipelines.detect.stragglers import find_stragglers

T0 = datetime(2026, 3, 2, 10, 0)


def test_a_worker_slower_than_its_peers_is_a_straggler_from_when_it_began():
    con = duckdb.connect()
    con.execute("create schema staging")
    con.execute(
        "create table staging.stg_runtime__worker_minutes (job_id varchar, attempt integer, worker integer, "
        "node_id varchar, minute_at timestamp, step bigint, steps double, step_time_s double, grad_sync_s double)"
    )
    for minute in range(20):
        for worker in range(3):
            # synchronous steps: everyone's step is 1.5 s; worker 2 computes 1.5 s from minute 8 on, the others
            # 1.0 s and wait 0.5 s for it in the all-reduce
            slow = worker == 2 and minute >= 8
            sync = 0.0 if slow else (0.5 if minute >= 8 else 0.0)
            step = 1.5 if minute >= 8 else 1.0
            con.execute(
                "insert into staging.stg_runtime__worker_minutes values ('j1', 0, ?, ?, ?, ?, 40, ?, ?)",
                [worker, f"n{worker}", T0 + timedelta(minutes=minute), 100 + 40 * minute, step, sync],
            )
    found = find_stragglers(con, detection_config(), (T0, T0 + timedelta(minutes=20)))
    assert found.select("job_id", "worker", "node_id").rows() == [("j1", 2, "n2")]
    row = found.row(0, named=True)
    assert row["started_at"] == T0 + timedelta(minutes=8)
    assert (row["first_step"], row["last_step"]) == (100 + 40 * 7 + 1, 100 + 40 * 19)  # minute 8's first step on
    assert row["grain"] == "minute" and row["resolved_at"] is None  # slow to the end of the data
    assert row["slowdown"] == 1.5  # 1.5 s against the peers' median of 1.0 s


def _series(values: list[float], node: str = "n0") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "node_id": [node] * len(values),
            "minute_at": [T0 + timedelta(minutes=i) for i in range(len(values))],
            "value": values,
        }
    )


DETECTOR = Detector(ratio=2.0, persistence_min=1, severity="critical", intent="page", family="data_io", summary="x")


def test_a_jump_against_the_scopes_own_trailing_median():
    config = detection_config().model_copy(update={"min_history_min": 60})
    hits = against_baseline(_series([2.0] * 120 + [6.0] * 5), ["node_id"], DETECTOR, config)
    assert hits["minute_at"].min() == T0 + timedelta(minutes=120)
    assert hits["baseline"].to_list() == [2.0] * 5  # the median before the jump, not including it


def test_without_history_peers_in_the_same_minute_carry_the_comparison():
    config = detection_config().model_copy(update={"min_history_min": 60})
    # ten minutes of data (a new install): n0 at 6 while its three peers sit at 2
    series = pl.concat([_series([6.0] * 10, "n0"), *[_series([2.0] * 10, f"p{i}") for i in range(3)]])
    hits = against_baseline(series, ["node_id"], DETECTOR, config)
    assert set(hits["node_id"]) == {"n0"}
    assert len(hits) == 10


def test_in_a_new_installs_first_hour_a_fault_that_lifts_the_peers_is_held_against_the_scopes_own_minutes():
    """Forty minutes of data: two nodes jump from 2 to 6 at minute 30, and so do two of their four peers (a storage
    slowdown in one of two regions): the peers' median rises to 4 with them (6 is not 2x 4), but the jumped nodes'
    own minutes before hold them at 2. Before `cold_history_min` (15) own minutes, only the peers count."""
    config = detection_config().model_copy(update={"min_history_min": 60, "cold_history_min": 15})
    jumped = [_series([2.0] * 30 + [6.0] * 10, f"n{i}") for i in range(2)]
    quiet = [_series([2.0] * 40, f"p{i}") for i in range(2)]
    hits = against_baseline(pl.concat([*jumped, *quiet]), ["node_id"], DETECTOR, config)
    assert set(hits["node_id"]) == {"n0", "n1"} and hits["minute_at"].min() == T0 + timedelta(minutes=30)
    assert set(hits["baseline"]) == {2.0}
    # the same jump at minute 10, before 15 own minutes: the peers alone, lifted to 4, hold it
    early = [_series([2.0] * 10 + [6.0] * 4, f"n{i}") for i in range(2)]
    calm = [_series([2.0] * 14, f"p{i}") for i in range(2)]
    assert against_baseline(pl.concat([*early, *calm]), ["node_id"], DETECTOR, config).is_empty()


def test_a_scope_as_slow_as_its_own_history_does_not_alert():
    config = detection_config()
    assert against_baseline(_series([5.0] * 200), ["node_id"], DETECTOR, config).is_empty()


def _weeks_of_region_minutes() -> pl.DataFrame:
    """Eight days of one region from Monday 00:00 at 2 % idle-with-demand, with a surge to 10 % from 09:00 to 10:00
    on both Mondays (a weekly pattern) and, on the second Monday only, 10 % from 14:00 to 14:30 (a regression)."""
    monday = datetime(2026, 3, 2)
    minutes = [monday + timedelta(minutes=i) for i in range(8 * 1440)]

    def value(at: datetime) -> float:
        surge = at.weekday() == 0 and at.hour == 9
        regression = at.date() == datetime(2026, 3, 9).date() and at.hour == 14 and at.minute < 30
        return 0.10 if surge or regression else 0.02

    return pl.DataFrame({"region": ["r1"] * len(minutes), "minute_at": minutes, "value": [value(m) for m in minutes]})


WEEKLY = Detector(
    ratio=3.0,
    floor=0.02,
    min_value=0.08,
    persistence_min=1,
    weekly=True,
    severity="warning",
    intent="ticket",
    family="scheduling",
    summary="x",
)


def test_where_a_week_of_history_allows_the_same_hour_of_the_week_is_the_baseline():
    config = detection_config()
    series = _weeks_of_region_minutes()
    # against the trailing 24 hours alone, the weekly surge looks like a regression: 10 % against a median of 2 %
    daily = WEEKLY.model_copy(update={"weekly": False})
    plain = against_baseline(series, ["region"], daily, config).filter(pl.col("minute_at") >= datetime(2026, 3, 9))
    assert plain.filter(pl.col("minute_at").dt.hour() == 9).height == 60
    # against the same hour a week before (the median of that hour, 10 %), the surge is expected ...
    weekly = against_baseline(series, ["region"], WEEKLY, config)
    weekly = weekly.filter(pl.col("minute_at") >= datetime(2026, 3, 9))
    assert weekly.filter(pl.col("minute_at").dt.hour() == 9).is_empty()
    # ... and the afternoon rise, which last Monday did not have, is still caught against last Monday's 2 %
    assert weekly["minute_at"].to_list() == [datetime(2026, 3, 9, 14, m) for m in range(30)]
    assert weekly["baseline"].unique().to_list() == [0.02]


def _two_noisy_days() -> pl.DataFrame:
    """Two days of a region losing 25 % of its GPU time, with a 20-minute swing to 40 % at noon every day and, on
    the second day only, 45 % from 15:00 to 15:30."""
    minutes = [T0.replace(hour=0) + timedelta(minutes=i) for i in range(2 * 1440)]

    def value(at: datetime) -> float:
        if at.day == 3 and at.hour == 15 and at.minute < 30:
            return 0.45
        return 0.40 if at.hour == 12 and at.minute < 20 else 0.25

    return pl.DataFrame({"region": ["r1"] * len(minutes), "minute_at": minutes, "value": [value(m) for m in minutes]})


def test_a_swing_the_day_before_also_had_is_not_flagged_but_a_new_high_is():
    config = detection_config()
    det = config.detectors["goodput_drop"]
    series = _two_noisy_days()
    second_day = pl.col("minute_at") >= datetime(2026, 3, 3)
    # against the median alone (25 %), the daily noon swing is 1.6x and fires every day
    plain = against_baseline(series, ["region"], det.model_copy(update={"above_quantile": None}), config)
    assert plain.filter(second_day & (pl.col("minute_at").dt.hour() == 12)).height == 20
    # the noon swing is within the highest 1 % of the day before (20 of 1,440 minutes at 40 %) ...
    guarded = against_baseline(series, ["region"], det, config).filter(second_day)
    assert guarded.filter(pl.col("minute_at").dt.hour() == 12).is_empty()
    # ... the afternoon's 45 % is above everything of the day before
    assert guarded["minute_at"].to_list() == [datetime(2026, 3, 3, 15, m) for m in range(30)]


def test_a_weekly_detector_reads_its_window_a_day_before_and_the_same_hours_of_the_weeks_before():
    from pipelines.detect.signals import history_spans

    config = detection_config()
    det = config.detectors["queue_wait"]  # weekly, no quantile: a day of trailing history
    start, end = datetime(2026, 3, 30, 10, 25), datetime(2026, 3, 31, 12, 30)
    spans = history_spans((start, end), det, config)
    hour = datetime(2026, 3, 30, 10, 0)
    week = timedelta(weeks=1)
    # four weeks back: the hours of the window (its last hour whole), not the 26 days between
    assert spans == [(hour - k * week, end - k * week + timedelta(hours=1)) for k in (4, 3, 2, 1)] + [
        (start - timedelta(hours=24), end)
    ]
    # a replay of three weeks of data reads it once
    long = history_spans((datetime(2026, 3, 2), end), det, config)
    assert long == [(datetime(2026, 3, 2) - 4 * week, end)]
    quantile = config.detectors["goodput_drop"]  # above a lagged quantile: 36 hours before the window
    assert history_spans((start, end), quantile, config)[-1] == (start - timedelta(hours=36), end)
