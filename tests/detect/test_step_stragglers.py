"""Stragglers at step grain, on logs as training loops write them (sampled or not, with or without times, ranks that
start late), through the step-times adapter: each straggling stretch found with its rank, steps and slowdown, and
nothing flagged for a slowdown of every rank or for a rank that is only noisy."""

import json
import os
from datetime import UTC, datetime

import duckdb
import polars as pl
import pytest

from pipelines.adapters import step_times
from pipelines.cli import main
from pipelines.detect.config import detection_config
from pipelines.detect.stragglers import find_stragglers
from tests.fixtures.step_logs import START, Slow, StepLog, random_logs

ISSUE_CASE = StepLog(ranks=10, last_step=3000, every=10, stragglers=(Slow(3, 1500, 1630),))


def stretches(tmp_path, *logs: StepLog) -> pl.DataFrame:
    paths = [log.write(tmp_path / f"{log.job_id}.csv") for log in logs]
    lines = step_times.adapt(paths, at=START).tables["job_step_times"]
    con = duckdb.connect()
    con.execute("create schema staging")
    con.register("lines", lines.to_arrow())
    con.execute(
        "create table staging.stg_runtime__step_lines as select job_id, attempt, worker, null::varchar as node_id, "
        "step, covers, step_time_s, ts as logged_at, ts_logged from lines"
    )
    return find_stragglers(con, detection_config(), None)


def _spans(found: pl.DataFrame) -> list[tuple]:
    return found.select("job_id", "worker", "first_step", "last_step").rows()


def test_one_rank_slow_for_130_steps_of_a_log_sampled_every_10th_step(tmp_path):
    found = stretches(tmp_path, ISSUE_CASE)
    assert _spans(found) == ISSUE_CASE.truth() == [("j1", 3, 1491, 1630)]
    row = found.row(0, named=True)
    assert 1.3 <= row["slowdown"] <= 2.4 and row["grain"] == "step"
    # 1,490 steps before the stretch, each as long as the slowest of ten ranks scattered 3 % around 0.5 s
    assert 1490 * 0.5 < (row["started_at"] - START).total_seconds() < 1490 * 0.5 * 1.1
    assert row["ended_at"] > row["started_at"] and row["resolved_at"] is not None


def test_without_times_the_steps_still_place_the_stretch(tmp_path):
    log = StepLog(stragglers=(Slow(7, 400, 700, 1.4, 1.6),), timestamps=False)
    found = stretches(tmp_path, log)
    assert _spans(found) == log.truth()
    assert found["started_at"].to_list() == [None] and found["ended_at"].to_list() == [None]
    assert 1.4 <= found["slowdown"][0] <= 1.6


def test_an_unsampled_log_one_line_a_step(tmp_path):
    log = StepLog(ranks=4, last_step=1200, every=1, stragglers=(Slow(0, 600, 799, 1.5, 1.5),))
    found = stretches(tmp_path, log)
    assert _spans(found) == [("j1", 0, 600, 799)]
    assert found["slowdown"][0] == pytest.approx(1.5, rel=0.03)


def test_two_stragglers_at_once_and_in_two_jobs(tmp_path):
    both = StepLog(stragglers=(Slow(2, 1000, 1300), Slow(5, 1100, 1500)))
    other = StepLog(ranks=3, job_id="j2", every=5, last_step=1500, stragglers=(Slow(1, 200, 400),), seed=3)
    found = stretches(tmp_path, both, other)
    assert sorted(_spans(found)) == sorted(both.truth() + other.truth())


def test_a_slowdown_of_every_rank_flags_nobody(tmp_path):
    # a checkpoint or a data stall: every rank 3x slower for 300 steps
    assert stretches(tmp_path, StepLog(job_slowdown=(1000, 1300, 3.0))).is_empty()


def test_a_rank_that_is_only_noisy_is_not_a_straggler(tmp_path):
    # one rank's lines scattered 20 % (log-normal) around the usual time, for 300 lines
    logs = [StepLog(noisy={4: 0.2}, seed=seed, job_id=f"n{seed}") for seed in range(5)]
    assert stretches(tmp_path, *logs).is_empty()


def test_ranks_that_start_late_are_judged_from_their_first_step(tmp_path):
    log = StepLog(late={8: 1500, 9: 1500}, stragglers=(Slow(9, 2000, 2200),))
    found = stretches(tmp_path, log)
    assert _spans(found) == log.truth()


def test_a_stretch_too_short_to_persist_is_not_one(tmp_path):
    # four slow lines (40 steps): a hiccup, not a straggler
    assert stretches(tmp_path, StepLog(stragglers=(Slow(1, 1000, 1030),))).is_empty()


def test_a_stretch_still_running_at_the_end_of_the_log_is_open(tmp_path):
    log = StepLog(stragglers=(Slow(6, 2800, 3000),))
    found = stretches(tmp_path, log)
    assert _spans(found) == log.truth()
    # the log's last line is the data's last: nothing says the rank recovered
    assert found["resolved_at"].to_list() == [None] and found["ended_at"].to_list() == [None]


def score(found: pl.DataFrame, logs: list[StepLog]) -> tuple[float, float, int, int]:
    """Precision and recall of the stretches: a found stretch is right if it overlaps an injected one of the same
    rank; an injected one is found if a found one overlaps it."""
    truth = [t for log in logs for t in log.truth()]
    spans = _spans(found)

    def overlaps(a, b) -> bool:
        return a[:2] == b[:2] and a[2] <= b[3] and b[2] <= a[3]

    right = sum(any(overlaps(s, t) for t in truth) for s in spans)
    caught = sum(any(overlaps(t, s) for s in spans) for t in truth)
    return right / max(len(spans), 1), caught / max(len(truth), 1), len(spans), len(truth)


def test_precision_and_recall_on_logs_of_every_shape(tmp_path):
    logs = random_logs(60)
    precision, recall, found, injected = score(stretches(tmp_path, *logs), logs)
    assert injected > 40
    assert precision >= 0.95 and recall >= 0.95, (precision, recall, found, injected)


def test_from_the_command_line_a_log_without_times_ingested_built_and_listed(tmp_path, capsys):
    """The new user's way: `ingest --format step-times`, `build`, `stragglers --format json`. Without ts and --at,
    the log ends when the file was last written (laid from then on, every line would be in the future)."""
    log = tmp_path / "ranks.csv"
    StepLog(stragglers=(Slow(3, 1500, 1630),), timestamps=False).write(log)
    written = datetime(2026, 3, 2, 12, 0)
    os.utime(log, (written.replace(tzinfo=UTC).timestamp(),) * 2)
    landing, db = tmp_path / "landing", tmp_path / "g.duckdb"
    assert main(["ingest", "--format", "step-times", str(log), "--landing", str(landing)]) == 0
    assert main(["build", "--landing", str(landing), "--db", str(db), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["stragglers", "--db", str(db), "--format", "json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert [(s["job_id"], s["worker"], s["first_step"], s["last_step"]) for s in found] == [("j1", 3, 1491, 1630)]
    assert set(found[0]) >= {"job_id", "worker", "first_step", "last_step", "slowdown", "started_at", "ended_at"}
    with duckdb.connect(str(db), read_only=True) as con:
        last, quarantined = con.execute(
            "select max(ts), (select count(*) from raw._quarantine) from raw.job_step_times"
        ).fetchall()[0]
    assert last == written and quarantined == 0
