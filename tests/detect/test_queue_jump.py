"""A scheduler policy change for one team, held against the rest of its queue on hand-made jobs: the boosted team's
jobs start in 30 s while the rest of the batch queue waits; a team that was already faster, a change that names no
team and a queue that is not a queue are not flagged."""

from datetime import datetime, timedelta

import duckdb
import polars as pl
import pytest

from pipelines.detect.cohorts import cohort_episodes, queue_jump_hits
from pipelines.detect.config import detection_config
from tests.fixtures.blank_warehouse import blank_warehouse, with_policy_change, with_policy_rule_tables

CHANGED_AT = datetime(2026, 3, 2, 10, 0)
WINDOW = (CHANGED_AT - timedelta(hours=2), CHANGED_AT + timedelta(minutes=10))


def _warehouse(jobs: list[tuple[str, datetime, datetime | None]], team: str | None = "a") -> duckdb.DuckDBPyConnection:
    """Batch jobs in r1 as (team, submitted_at, started_at or None while queued), and the policy change."""
    con = blank_warehouse()
    con.execute(
        "create table staging.stg_jobs__submissions (job_id varchar, team varchar, region varchar, "
        "workload_class varchar, submitted_at timestamp)"
    )
    with_policy_rule_tables(con)  # the other policy rules' tables, empty: these tests hold waits only
    for i, (owner, submitted, started) in enumerate(jobs):
        con.execute(
            "insert into staging.stg_jobs__submissions values (?, ?, 'r1', 'batch', ?)", [f"j{i}", owner, submitted]
        )
        if started is not None:
            con.execute(
                "insert into intermediate.int_jobs__attempts (job_id, started_at) values (?, ?)", [f"j{i}", started]
            )
    with_policy_change(con, CHANGED_AT, "priority weights", scope_team=team, description="batch priority raised")
    return con


def _jobs(before_waits: dict[str, int], after_waits: dict[str, int | None]) -> list:
    """Each team submits a job a minute in the hour before the change and in the ten minutes after it; a job waits
    the team's seconds before it starts (None: still queued at 10:10)."""
    jobs = []
    for minute in range(-60, 10):
        at = CHANGED_AT + timedelta(minutes=minute)
        waits = before_waits if minute < 0 else after_waits
        for owner, wait in waits.items():
            jobs.append((owner, at, None if wait is None else at + timedelta(seconds=wait)))
    return jobs


def _found(con) -> pl.DataFrame:
    return con.sql("select * from staging.stg_changes__events").pl()


def test_the_boosted_team_jumping_the_queue_is_caught_five_minutes_after_the_change():
    con = _warehouse(_jobs({"a": 600, "b": 600}, {"a": 30, "b": None}))
    hits = queue_jump_hits(con, _found(con), detection_config(), WINDOW)
    # at 10:05 team a has 5 jobs that waited 30 s each; team b's 5 jobs, all queued, have waited 300, 240, 180, 120
    # and 60 s: a mean of 180 s (a real queue: >= 120), 6x team a's, and the hour before both waited 600 s (1x)
    first = hits.sort("minute_at").row(0, named=True)
    assert first["minute_at"] == CHANGED_AT + timedelta(minutes=4)  # the data read ends with minute 10:04
    assert (first["team"], first["workload_class"], first["region"]) == ("a", "batch", "r1")
    assert first["value"] == 6.0
    assert first["baseline"] == 1.0
    # at 10:06: six jobs each, team b's mean (360 + ... + 60) / 6 = 210 s, 7x
    assert hits.filter(pl.col("minute_at") == CHANGED_AT + timedelta(minutes=5))["value"].to_list() == [7.0]


def test_the_alert_names_the_team_the_queue_and_the_change():
    con = _warehouse(_jobs({"a": 600, "b": 600}, {"a": 30, "b": None}))
    found = cohort_episodes(con, detection_config(), WINDOW, delay_min=0)
    assert found["rule"].to_list() == ["queue_jump"]
    row = found.row(0, named=True)
    assert (row["region"], row["team"], row["cohort"]) == ("r1", "a", "priority weights workload_class=batch")
    assert row["suspected_change_id"] == "chg-1"
    assert row["detected_at"] == CHANGED_AT + timedelta(minutes=5)  # the 10:05 tick, having read up to 10:05


def test_a_team_that_was_already_that_much_faster_is_not_blamed_on_the_change():
    # the hour before, team a waited 30 s against team b's queue (mean 555 s at 10:00, 18.5x): 6-7x since is no jump
    con = _warehouse(_jobs({"a": 30, "b": 600}, {"a": 30, "b": None}))
    assert queue_jump_hits(con, _found(con), detection_config(), WINDOW).is_empty()


def test_a_change_that_names_no_team_has_no_cohort_to_compare():
    con = _warehouse(_jobs({"a": 600, "b": 600}, {"a": 30, "b": None}), team=None)
    assert queue_jump_hits(con, _found(con), detection_config(), WINDOW).is_empty()


def test_a_queue_where_the_rest_starts_within_two_minutes_cannot_be_jumped():
    con = _warehouse(_jobs({"a": 60, "b": 60}, {"a": 5, "b": 100}))  # 20x faster, but the rest waits 100 s
    assert queue_jump_hits(con, _found(con), detection_config(), WINDOW).is_empty()


def test_a_boost_shows_when_a_queue_forms_hours_after_the_change():
    # no queue for three hours after the change (every job starts in 10 s), then from 13:00 team a's jobs start in
    # 30 s while team b's stay queued. Judged over the last 30 minutes' jobs: at 13:11, team b has 19 jobs of 10 s
    # and 11 queued ones that have waited 60..660 s, (190 + 3,960) / 30 = 138 s (a queue), team a (190 + 330) / 30
    # = 17.3 s: 4,150 / 520 = 7.98x. At 13:10 team b's mean is 3,500 / 30 = 117 s, not yet a queue. The mean since
    # the change would have read b's 30 s.
    jobs = _jobs({"a": 600, "b": 600}, {"a": 10, "b": 10})
    for minute in range(10, 200):
        at = CHANGED_AT + timedelta(minutes=minute)
        queue_formed = minute >= 180
        jobs += [("a", at, at + timedelta(seconds=30 if queue_formed else 10))]
        jobs += [("b", at, None if queue_formed else at + timedelta(seconds=10))]
    con = _warehouse(jobs)
    window = (WINDOW[0], CHANGED_AT + timedelta(minutes=200))
    hits = queue_jump_hits(con, _found(con), detection_config(), window)
    first = hits.sort("minute_at").row(0, named=True)
    assert first["minute_at"] == CHANGED_AT + timedelta(hours=3, minutes=10)
    assert first["value"] == pytest.approx(4150 / 520)


def test_the_tick_that_first_could_see_the_jump_raises_it_as_the_replay_says():
    # causal: the 10:05 tick reads jobs submitted and started before 10:05 only, and judges 10:05 itself
    con = _warehouse(_jobs({"a": 600, "b": 600}, {"a": 30, "b": None}))
    full = cohort_episodes(con, detection_config(), WINDOW, delay_min=0)
    at_tick = cohort_episodes(con, detection_config(), (WINDOW[0], CHANGED_AT + timedelta(minutes=5)), delay_min=0)
    assert (
        at_tick.select("started_at", "detected_at", "value").rows()
        == full.select("started_at", "detected_at", "value").rows()
    )
    before_tick = cohort_episodes(con, detection_config(), (WINDOW[0], CHANGED_AT + timedelta(minutes=4)), delay_min=0)
    assert before_tick.is_empty()


def test_a_rolled_back_change_is_watched_until_its_rollback_only():
    # an unseen scenario paged a team's queue five hours after its priority change had been rolled back
    con = _warehouse(_jobs({"a": 600, "b": 600}, {"a": 30, "b": None}))
    con.execute(
        "insert into staging.stg_changes__events values ('chg-2', ?, 'rollback', 'priority weights', null, null, "
        "null, null, null, null, 'priority weights restored')",
        [CHANGED_AT + timedelta(minutes=7)],
    )
    found = cohort_episodes(con, detection_config(), (WINDOW[0], CHANGED_AT + timedelta(hours=2)), delay_min=0)
    # judged at 10:05, 10:06 and 10:07 (data before the rollback): the jump ends when the change does (a cohort
    # episode is closed once an hour passes without a hit, hence the longer window)
    assert found.select("started_at", "resolved_at").rows() == [
        (CHANGED_AT + timedelta(minutes=4), CHANGED_AT + timedelta(minutes=7))
    ]


@pytest.mark.parametrize(
    ("component", "team"),
    [("priority weights", "b"), ("queue time limits", None)],
    ids=["another team's rollback", "another component's rollback"],
)
def test_a_rollback_that_does_not_cover_the_change_does_not_end_it(component, team):
    con = _warehouse(_jobs({"a": 600, "b": 600}, {"a": 30, "b": None}))
    con.execute(
        "insert into staging.stg_changes__events values ('chg-2', ?, 'rollback', ?, null, null, null, null, ?, null, "
        "'restored')",
        [CHANGED_AT + timedelta(minutes=7), component, team],
    )
    found = cohort_episodes(con, detection_config(), (WINDOW[0], CHANGED_AT + timedelta(hours=2)), delay_min=0)
    # judged as if no rollback had come: from 10:05 until 10:35, the last minute whose 30-minute window still holds
    # five of the team's jobs submitted since the change (10:05 to 10:09)
    assert found.select("started_at", "resolved_at").rows() == [
        (CHANGED_AT + timedelta(minutes=4), CHANGED_AT + timedelta(minutes=35))
    ]
