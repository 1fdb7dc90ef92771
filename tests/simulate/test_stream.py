"""The simulator as a stream of days: what a day hands the writers, and that finished work is forgotten."""

import numpy as np

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
        assert stream.job_base == min(live | {scheduler.next_job})  # the writers' window starts at the oldest
        held.append(len(scheduler.ready_min))
        loaded.append(scheduler.n_jobs)
    per_day = loaded[-1] / 8  # six days and two of warm-up
    assert max(held) < 2 * per_day  # the next day's jobs and those in flight, while eight days' were made


def test_a_dummy_workload_names_its_jobs_as_a_run_made_up_front_did():
    scenario = scenario_from_dict(
        {**SCENARIO, "days": 2, "incidents": [{"kind": "dummy_workload", "start": "+1d10h", "duration": "2h"}]}
    )
    stream = DayStream(scenario)
    for day in range(2):
        ctx = stream.day(day)
        dummy_ids = set(ctx.job_ids[ctx.jobs.is_dummy])
        stream.forget(day)
    (incident,) = [t for t in stream.truth if t["kind"] == "dummy_workload"]
    assert incident["job_ids"] and set(incident["job_ids"]) <= dummy_ids | set(incident["job_ids"])
    assert len(set(incident["job_ids"])) == len(incident["job_ids"])
    submitted = np.array([int(j) for j in incident["job_ids"]])
    assert (np.diff(submitted) > 0).all()  # numbered in submission order
