"""Per-worker step timings (a CSV any training loop can log: job_id, worker, step, step_time_s and optionally ts)
to job_step_times, the lines as logged (the input of step-grain straggler detection), and to job_runtime_metrics:
steps per worker-minute, the last step, the mean step time (the input of goodput's progress). A sampled log (a
line every N steps, as training loops write them) stands for every step: each line for the steps since the rank's
previous one. Without a ts column a worker's steps are laid end to end from the run's start (`--at`, else a time
in the file name), or so that the longest rank's last step ends when the file was last written (its mtime)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import polars as pl

from pipelines.adapters.base import Adapted, bad_lines, modified_at, time_in_name

SUFFIXES = (".csv",)
OPTIONS = ("at",)
REQUIRED = ("job_id", "worker", "step", "step_time_s")


def adapt(paths: list[Path], at: datetime | None = None) -> Adapted:
    result = Adapted()
    frames = []
    for path in paths:
        rows, bad = _read(path, at)
        result = result.add(Adapted(quarantine=bad, read=rows.height + bad.height, files=1))
        frames.append(rows)
    if frames:
        lines = pl.concat(frames, how="vertical_relaxed")
        result.tables = {
            "job_step_times": lines.with_columns(pl.lit(0, pl.Int32).alias("attempt")),
            "job_runtime_metrics": _minutes(lines),
        }
    return result


def _read(path: Path, at: datetime | None) -> tuple[pl.DataFrame, pl.DataFrame]:
    raw = pl.read_csv(path, infer_schema=False, truncate_ragged_lines=True, encoding="utf8-lossy")
    raw = raw.rename({c: c.strip().lower() for c in raw.columns}).with_row_index("line", offset=2)
    missing = [c for c in REQUIRED if c not in raw.columns]
    if missing:
        header = pl.DataFrame({"line": [1], "text": [",".join(raw.columns[1:])]})
        return pl.DataFrame(), bad_lines(
            path, header, f"missing columns {missing} (need {list(REQUIRED)}, ts optional)"
        )
    text = pl.concat_str([pl.col(c).fill_null("") for c in raw.columns if c != "line"], separator=",").alias("text")
    typed = raw.with_columns(
        text,
        pl.col("job_id").str.strip_chars(),
        pl.col("worker").str.strip_chars().cast(pl.Int32, strict=False),
        pl.col("step").str.strip_chars().cast(pl.Int64, strict=False),
        pl.col("step_time_s").str.strip_chars().cast(pl.Float64, strict=False),
        _timestamp(raw).alias("ts"),
    )
    reason = (
        pl.when(pl.col("job_id").is_null() | (pl.col("job_id") == ""))
        .then(pl.lit("no job_id"))
        .when(pl.col("worker").is_null() | (pl.col("worker") < 0))
        .then(pl.lit("worker is not a rank (integer >= 0)"))
        .when(pl.col("step").is_null())
        .then(pl.lit("step is not an integer"))
        .when(pl.col("step_time_s").is_null() | (pl.col("step_time_s") < 0))
        .then(pl.lit("step_time_s is not a duration in seconds"))
        .when(pl.col("ts").is_null() & pl.lit("ts" in raw.columns))
        .then(pl.lit("unparseable ts"))
    )
    typed = typed.with_columns(reason.alias("reason"))
    bad = bad_lines(path, typed.filter(pl.col("reason").is_not_null()), pl.col("reason"))
    good = _with_steps_covered(typed.filter(pl.col("reason").is_null()))
    good = good.with_columns(pl.lit("ts" in raw.columns).alias("ts_logged"))
    if "ts" not in raw.columns:  # steps end to end from the run's start, each row for the steps it stands for
        elapsed = (pl.col("step_time_s") * pl.col("covers")).cum_sum().over("job_id", "worker", order_by="step")
        good = good.with_columns(elapsed.alias("_elapsed"))
        start = at or time_in_name(path)
        if start is None:  # the log's last line was written when the file was last modified
            longest = good["_elapsed"].max() if good.height else 0.0
            start = modified_at(path) - timedelta(seconds=longest)
        good = good.with_columns((pl.lit(start) + pl.duration(seconds=pl.col("_elapsed"))).alias("ts"))
    return good.select("job_id", "worker", "step", "covers", "step_time_s", "ts", "ts_logged"), bad


def _with_steps_covered(rows: pl.DataFrame) -> pl.DataFrame:
    """`covers`: the steps a row stands for. Training loops log one line every N steps: a line stands for the steps
    since the rank's previous line; a rank's first line for its usual stride (a rank that starts late did not run
    the steps before it)."""
    rank = ["job_id", "worker"]
    rows = rows.sort([*rank, "step"]).with_columns(pl.col("step").diff().over(rank).alias("covers"))
    stride = pl.col("covers").filter(pl.col("covers") > 0).median().over(rank)
    return rows.with_columns(
        pl.when(pl.col("covers").is_null()).then(stride.fill_null(1)).otherwise(pl.col("covers")).alias("covers")
    ).filter(pl.col("covers") > 0)  # a step logged twice counts once


def _timestamp(raw: pl.DataFrame) -> pl.Expr:
    if "ts" not in raw.columns:
        return pl.lit(None, pl.Datetime("us"))
    text = pl.col("ts").str.strip_chars()
    epoch = text.cast(pl.Float64, strict=False)
    iso = text.str.to_datetime(time_zone="UTC", strict=False).dt.replace_time_zone(None)
    return pl.coalesce(pl.from_epoch((epoch * 1e6).cast(pl.Int64), time_unit="us"), iso).cast(pl.Datetime("us"))


def _minutes(rows: pl.DataFrame) -> pl.DataFrame:
    minute = pl.col("ts").dt.truncate("1m").alias("ts")
    return rows.group_by("job_id", "worker", minute).agg(
        pl.lit(0, pl.Int32).alias("attempt"),
        pl.col("step").max(),
        pl.col("covers").sum().cast(pl.Float64).alias("steps"),
        ((pl.col("step_time_s") * pl.col("covers")).sum() / pl.col("covers").sum()).alias("step_time_s"),
    )
