"""The bench's verdicts and its year, worked out by hand on made-up figures."""

import pytest

from bench.harness import Figure, targeted
from bench.run import _ticks_against_smallest, extrapolate_year
from pipelines.cli.options import day_list


def test_a_per_day_target_scales_with_the_days_and_a_missed_ratio_is_a_miss():
    ingest = targeted(Figure("ingest_30d", 200.0, [200.0], 1000.0), "ingest", 30)
    assert ingest.target_s == pytest.approx(60.0 / 7 * 30)  # 257.1 s for 30 days
    assert ingest.meets is True
    build = targeted(Figure("model_build_7d", 40.0, [40.0], 3000.0, "analyst", 7.0), "model_build", 7)
    assert build.ratio == pytest.approx(40 / 7) and build.meets is False  # 5.7x against at most 5x
    heavy = targeted(Figure("model_build_7d", 30.0, [30.0], 4500.0, "analyst", 7.0), "model_build", 7)
    assert heavy.meets is False  # 4.3x is fine, 4,500 MiB is over 4 GiB
    assert targeted(Figure("pandas", 9.0, [9.0], 99_999.0), "reference").meets is None  # information only


def test_each_tick_is_held_against_the_tick_on_the_smallest_history():
    ticks = [
        targeted(Figure("tick_5min_7d", 3.0, [3.0], 500.0), "tick_5min", 7),
        targeted(Figure("tick_5min_90d", 4.8, [4.8], 500.0), "tick_5min", 90),
        targeted(Figure("query_90d", 0.2, [0.2], 500.0), "query_hourly_goodput_by_team", 90),
    ]
    small, large, query = _ticks_against_smallest(ticks, 7)
    assert large.baseline == "tick_5min_7d" and large.ratio == pytest.approx(1.6)
    assert large.meets is False  # under 5 s, but 1.6x the week's tick
    assert small.ratio == 1.0 and query.baseline is None


def test_a_year_follows_the_growth_between_the_two_largest_sizes():
    sizes = {
        7: {"landing_mib": 100.0, "working_file_mib": 0, "published_mib": 0, "warehouse_mib": 1000.0},
        30: {"landing_mib": 400.0, "working_file_mib": 0, "published_mib": 0, "warehouse_mib": 4000.0},
    }
    builds = [
        targeted(Figure("model_build_7d", 70.0, [70.0], 1.0), "model_build", 7),
        targeted(Figure("model_build_30d", 300.0, [300.0], 1.0), "model_build", 30),
    ]
    year = extrapolate_year(builds, sizes)
    # 3,000 MiB over 23 days, 335 days more: 4,000 + 43,696 = 47,696 MiB = 50.0 GB
    assert year["warehouse_gb"] == pytest.approx(round((4000 + 3000 / 23 * 335) * 1024**2 / 1e9, 1))
    assert year["build_s"] == pytest.approx(round(300 + 230 / 23 * 335))  # 10 s a day more: 3,650 s
    assert year["fits"] is True and year["from_days"] == [7, 30]
    one = extrapolate_year(builds[:1], {7: sizes[7]})
    assert one["build_s"] == pytest.approx(round(70 / 7 * 365)) and one["from_days"] == [0, 7]


def test_days_are_a_comma_separated_list_of_whole_days():
    assert day_list("7,30,90") == [7, 30, 90]
    for bad in ("7,x", "0", ""):
        with pytest.raises(Exception, match="whole days"):
            day_list(bad)


def test_a_baseline_that_dies_is_a_finding_and_the_step_keeps_its_figure():
    import os
    import time

    from bench.harness import timed

    figure = timed("sleep", "reference", 1, 2, time.sleep, 0.01, baseline=(os._exit, 3), baseline_label="dies")
    assert len(figure.runs_s) == 2 and figure.median_s >= 0.01
    assert figure.baseline_median_s is None and figure.ratio is None
    assert "exit code 3" in figure.baseline_error
