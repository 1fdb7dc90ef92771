"""The simulator as a stream of days: what a day hands the writers, and that finished work is forgotten."""

import duckdb
import numpy as np

from pipelines.simulate.run import simulate
from pipelines.simulate.scenario import scenario_from_dict
from pipelines.simulate.stream import DayStream

SCENARIO = {"name": "stream", "seed": 4, "start": "2026-03-02T00:00:00Z", "days": 6, "fleet": {"gpus": 48, "nodes": 4}}


def test_each_day_holds_the_jobs_in_flight_not_the_history():
    stream = DayStream(scenario_from_dict(SCENARIO))
    held, loaded = [], []  # jobs the scheduler keeps, jobs made so far
    for day in range(6):
        ctx = stream.day(day)
        first, last = ctx.day_minutes(day)
        running = ctx.overlapping(first, last)
        assert (ctx.a_job[running] >= 0).all() and (ctx.a_job[running] < len(ctx.jobs)).all()
        events = ctx.schedule.events
        assert (events.column("time_s") < last * 60).all()  # nothing of a later day
        if day:
            assert (events.column("time_s") >= first * 60).all()  # nothing written twice
        placed = events.column("index")[events.column("index") >= 0]
        assert (placed < len(ctx.schedule.attempts)).all()  # every placed event's attempt is in the day's list
        stream.forget(day)
        scheduler = stream.scheduler
        live = {e.job for e in scheduler.queue} | {a.job for a in scheduler.attempts.values()}
        assert set(scheduler.ready_min) == live | set(range(scheduler.next_job, scheduler.n_jobs))
        assert set(stream.job_numbers.tolist()) == set(scheduler.ready_min)  # the writers keep what it keeps
        held.append(len(scheduler.ready_min))
        loaded.append(scheduler.n_jobs)
    per_day = loaded[-1] / 8  # six days and two of warm-up
    assert max(held) < 2 * per_day  # the next day's jobs and those in flight, while eight days' were made


def test_a_dummy_workload_names_its_jobs_as_a_run_made_up_front_did():
    scenario = scenario_from_dict(
        {**SCENARIO, "days": 2, "incidents": [{"kind": "dummy_workload", "start": "+1d10h", "duration": "2h"}]}
    )
    stream = DayStream(scenario)
    dummy_ids = set()  # every dummy job the days hand the writers: this one incident's
    for day in range(2):
        ctx = stream.day(day)
        dummy_ids |= set(ctx.job_ids[ctx.jobs.is_dummy])
        stream.forget(day)
    (incident,) = [t for t in stream.truth if t["kind"] == "dummy_workload"]
    assert incident["job_ids"] and set(incident["job_ids"]) == dummy_ids
    assert len(set(incident["job_ids"])) == len(incident["job_ids"])
    submitted = np.array([int(j) for j in incident["job_ids"]])
    assert (np.diff(submitted) > 0).all()  # numbered in submission order


def test_a_retry_resumes_at_its_predecessors_checkpoint_even_a_day_later(tmp_path):
    """Jobs that fail (a bad driver) just before midnight wait out a scheduler outage and restart the next day,
    when the simulator has forgotten the attempts they resume: the step counter must still go on from the
    checkpoint, not from 0. Every other retry too, to the step (a long running sum once put some a step back)."""
    scenario = scenario_from_dict(
        {
            **SCENARIO,
            "seed": 6,
            "days": 2,
            "fleet": {"gpus": 48, "nodes": 4, "regions": ["r1"]},
            "incidents": [
                {"kind": "driver_regression", "start": "+0h", "duration": "47h", "magnitude": 5},
                {"kind": "scheduler_outage", "start": "+23h", "duration": "2h"},
            ],
        }
    )
    simulate(scenario, tmp_path, progress=False)
    metrics = str(tmp_path / "job_runtime_metrics" / "*" / "*.parquet")
    rows = duckdb.execute(
        """with m as (select * from read_parquet(?)),
        checkpoint as (select job_id, attempt, max(ts)::date as day, coalesce(max(step) filter (where checkpoint_s > 0),
                              case when attempt > 0 and min(steps) = 0 then min(step) else 0 end) as step
                       from m group by job_id, attempt),
        resumed as (select job_id, attempt, min(step) as step, min(ts)::date as day from m
                    where attempt > 0 group by all having min(steps) = 0)
        select c.step, r.step, r.day > c.day from resumed r
        join checkpoint c on c.job_id = r.job_id and c.attempt = r.attempt - 1""",
        [metrics],
    ).fetchall()
    assert sum(checkpointed > 0 and next_day for checkpointed, _, next_day in rows) >= 2
    assert all(restart == checkpointed for checkpointed, restart, _ in rows)
