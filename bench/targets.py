"""Every target the bench holds a figure to, in one table: a figure's kind names its row."""

from __future__ import annotations

from dataclasses import dataclass

PEAK_MIB = 4096.0  # every step of the pipeline, at any history


@dataclass(frozen=True)
class Target:
    seconds: float | None = None  # at most, at any size
    seconds_per_day: float | None = None  # at most, times the days of data
    ratio: float | None = None  # at most, times the figure's baseline
    peak_mib: float | None = PEAK_MIB


TARGETS: dict[str, Target] = {
    # a million samples of dcgm-exporter text on one core, in the steady state of a folder ingest
    "parse_prometheus": Target(seconds=1.0),
    "simulate": Target(seconds_per_day=90.0 / 7),
    "simulate_1d": Target(seconds=15.0),
    "ingest": Target(seconds_per_day=60.0 / 7),
    # the whole model build against the analyst's one-query north star on the same Parquet and engine
    "model_build": Target(ratio=5.0),
    # a live tick, and against the tick on the smallest history of the same run: it must not follow the history
    "tick_5min": Target(seconds=5.0, ratio=1.5),
    "query_hourly_goodput_by_team": Target(seconds=0.5),
    "explain_last_day": Target(),
    "report_render": Target(),
    "report_load": Target(seconds=3.0, peak_mib=None),  # a browser's load: its memory is Chromium's
    "spark_build": Target(),
    "reference": Target(peak_mib=None),  # what a figure is held against: information, not the pipeline
}
# a year of the default fleet on one machine (the design's promise), with this much disk
YEAR_DISK_GB = 300.0
