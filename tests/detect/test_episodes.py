"""Persistence, tick alignment and resolution of episodes, worked out by hand."""

from datetime import datetime, timedelta

import polars as pl
import pytest

from pipelines.detect.episodes import episodes

T0 = datetime(2026, 3, 2, 10, 0)


def _hits(minutes: list[int]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "gpu_id": ["g0"] * len(minutes),
            "minute_at": [T0 + timedelta(minutes=m) for m in minutes],
            "value": [float(90 + m) for m in minutes],
        }
    )


@pytest.mark.parametrize(
    ("minutes", "persistence", "expected"),
    [
        # held 2 minutes, needs 3: nothing
        ([3, 4], 3, []),
        # held 10:03-10:05: confirmed by the minute 10:05, whose data is complete at 10:06 -> the 10:10 tick
        ([3, 4, 5], 3, [(3, 5, 10, 93 + 2)]),
        # one minute is enough: 10:00's data is complete at 10:01 -> the 10:05 tick
        ([0], 1, [(0, 0, 5, 90)]),
        # minute 10:04 completes at 10:05, exactly a tick
        ([4], 1, [(4, 4, 5, 94)]),
        # a one-minute hole ends the episode; the second one persists on its own
        ([0, 1, 3, 4, 5], 3, [(3, 5, 10, 95)]),
    ],
)
def test_persistence_and_ticks(minutes, persistence, expected):
    found = episodes(_hits(minutes), ["gpu_id"], persistence, T0 + timedelta(hours=1)).sort("started_at")
    got = [
        (
            int((r["started_at"] - T0).total_seconds() // 60),
            int((r["confirmed_at"] - T0).total_seconds() // 60),
            int((r["detected_at"] - T0).total_seconds() // 60),
            r["value"],
        )
        for r in found.iter_rows(named=True)
    ]
    assert got == expected


def test_value_is_the_one_seen_at_confirmation_not_a_later_peak():
    found = episodes(_hits([0, 1, 2, 3, 4, 50 - 45]), ["gpu_id"], 2, T0 + timedelta(hours=1))
    assert found["value"][0] == 91.0


def test_resolved_only_once_the_data_shows_the_condition_cleared():
    hits = _hits([0, 1, 2])
    assert episodes(hits, ["gpu_id"], 1, T0 + timedelta(minutes=10))["resolved_at"][0] == T0 + timedelta(minutes=3)
    # the data ends right after the last minute that held: still open
    assert episodes(hits, ["gpu_id"], 1, T0 + timedelta(minutes=3))["resolved_at"][0] is None


def test_arrival_delay_moves_detection_to_a_later_tick():
    found = episodes(_hits([4]), ["gpu_id"], 1, T0 + timedelta(hours=1), delay_min=2)
    assert found["detected_at"][0] == T0 + timedelta(minutes=10)
