"""The scheduler on hand-made jobs: queueing, packing, gangs, priority, outages, drains and checkpoint restarts."""

import numpy as np

from pipelines.simulate.attempts import COMPLETED, NODE_FAIL, PREEMPTED
from pipelines.simulate.fleet import build_fleet
from pipelines.simulate.incidents import Effects
from pipelines.simulate.scenario import FleetSpec
from pipelines.simulate.scheduler import RESTART_OVERHEAD_MIN, Scheduler, schedule_all
from pipelines.simulate.workload import BATCH, INTERACTIVE, Jobs

FLEET = build_fleet(FleetSpec(gpus=8, nodes=2, regions=["r1"]))  # two nodes of 4 GPUs
MINUTES = 300


def make_jobs(*specs: dict) -> Jobs:
    defaults = dict(
        submit_s=0,
        cls=BATCH,
        team=0,
        region=0,
        model=3,
        gpus=1,
        n_nodes=0,
        sku_req=-1,
        work_min=10,
        fate=0,
        fate_frac=1.0,
        priority=20,
        deadline_s=-1,
        ckpt_min=20,
        reports_steps=True,
        is_dummy=False,
        activity=1.0,
    )
    rows = [{**defaults, **spec} for spec in specs]
    return Jobs(**{k: np.array([r[k] for r in rows]) for k in defaults})


def run(jobs: Jobs, fx: Effects | None = None):
    fx = fx or Effects(FLEET.n_nodes, 1, MINUTES)
    return schedule_all(jobs, FLEET, fx, ["torch"] * len(jobs), np.random.default_rng(0))


def starts(schedule) -> dict[int, int]:
    return {a.job: a.start for a in schedule.attempts if a.attempt == 0}


def test_jobs_queue_when_gpus_are_short_and_start_when_freed():
    schedule = run(make_jobs({"gpus": 4}, {"gpus": 4}, {"gpus": 4}))
    assert starts(schedule) == {0: 0, 1: 0, 2: 10}  # the third waits for the first to finish
    pending = [e for e in schedule.events if e[3] == "pending"]
    assert [(e[1], e[6]) for e in pending] == [(2, "Resources")]


def test_small_jobs_are_packed_onto_the_fullest_node():
    schedule = run(make_jobs({"gpus": 1}, {"gpus": 1, "submit_s": 60}, {"gpus": 1, "submit_s": 120}))
    assert len({tuple(a.nodes) for a in schedule.attempts}) == 1


def test_gang_jobs_need_whole_free_nodes():
    # one GPU busy on each node: an 8-GPU, 2-node job cannot start although 6 GPUs are free
    schedule = run(
        make_jobs({"gpus": 1, "work_min": 30}, {"gpus": 4, "work_min": 30}, {"gpus": 8, "n_nodes": 2, "submit_s": 60})
    )
    assert starts(schedule)[2] == 30
    gang = next(a for a in schedule.attempts if a.job == 2)
    assert len(gang.nodes) == 2 and len(gang.gpus) == 8


def test_a_job_that_waited_too_long_holds_nodes_and_only_jobs_that_end_before_they_free_backfill_them():
    # the gang waits from minute 0; at 120 (batch patience) it holds both nodes, which should be free at 250 when
    # job 1 ends: a 60-minute job at 125 backfills (ends at 185), a 200-minute one waits until the gang has run
    schedule = run(
        make_jobs(
            {"gpus": 4, "work_min": 150},
            {"gpus": 1, "work_min": 250},
            {"gpus": 8, "n_nodes": 2},
            {"gpus": 1, "work_min": 60, "submit_s": 125 * 60},
            {"gpus": 1, "work_min": 200, "submit_s": 125 * 60},
        )
    )
    order = starts(schedule)
    assert order[3] == 125
    assert order[2] == 250
    assert order[4] == 260  # after the gang's 10 minutes


def test_higher_priority_goes_first_when_gpus_free_up():
    schedule = run(
        make_jobs(
            {"gpus": 8, "n_nodes": 2, "work_min": 20},
            {"gpus": 8, "n_nodes": 2, "submit_s": 60, "priority": 20},
            {"gpus": 8, "n_nodes": 2, "submit_s": 120, "priority": 50, "cls": INTERACTIVE},
        )
    )
    order = starts(schedule)
    assert order[2] == 20 and order[1] > order[2]


def test_nothing_starts_while_the_scheduler_is_down():
    fx = Effects(FLEET.n_nodes, 1, MINUTES)
    fx.region_flag("sched_down")[0, 5:50] = True
    schedule = run(make_jobs({"gpus": 1, "submit_s": 600}), fx)
    assert starts(schedule) == {0: 50}
    assert [e[6] for e in schedule.events if e[3] == "pending"] == ["SchedulerDown"]


def test_a_failed_attempt_requeues_from_its_last_checkpoint():
    fx = Effects(FLEET.n_nodes, 1, MINUTES)
    fx.arr("hz_hw")[:, 50:] = 0.5  # both nodes start failing jobs at minute 50
    schedule = run(make_jobs({"gpus": 4, "work_min": 200, "ckpt_min": 20}), fx)
    first, second = schedule.attempts[0], schedule.attempts[1]
    assert first.state == NODE_FAIL and 50 <= first.end <= 60
    assert second.attempt == 1 and second.saved == 40.0  # progress ~50 minutes, checkpoints every 20
    assert second.overhead == RESTART_OVERHEAD_MIN


def test_maintenance_drains_ahead_and_preempts_what_still_runs():
    fx = Effects(FLEET.n_nodes, 1, MINUTES)
    fx.arr("maint")[0, 100:160] = True
    schedule = run(
        make_jobs(
            {"gpus": 4, "work_min": 200}, {"gpus": 4, "work_min": 200}, {"gpus": 4, "work_min": 10, "submit_s": 50 * 60}
        ),
        fx,
    )
    preempted = [a for a in schedule.attempts if a.state == PREEMPTED]
    assert len(preempted) == 1 and preempted[0].end == 100
    late = next(a for a in schedule.attempts if a.job == 2)
    assert late.start >= 160  # node 0 drains an hour ahead, node 1 is busy: the short job waits
    assert all(a.state == COMPLETED for a in schedule.attempts if a.attempt > 0)


def test_a_slower_step_time_makes_a_job_run_longer():
    fx = Effects(FLEET.n_nodes, 1, MINUTES)
    fx.arr("si")[:, :] = 3.0  # data-loader wait triples on every node
    slow = run(make_jobs({"gpus": 1, "work_min": 60}), fx).attempts[0]
    fast = run(make_jobs({"gpus": 1, "work_min": 60})).attempts[0]
    assert fast.end - fast.start == 60
    assert slow.end - slow.start > 70


def test_the_event_log_reads_back_what_was_appended():
    from pipelines.simulate.scheduler import EventLog

    log = EventLog()
    log.append(600, 7, 0, "submitted", 8, -1, None)
    log.append(660, 7, 0, "pending", 8, -1, "Resources")
    log.append(720, 7, 0, "started", 8, 0, None)
    assert list(log) == [
        (600, 7, 0, "submitted", 8.0, -1, None),
        (660, 7, 0, "pending", 8.0, -1, "Resources"),
        (720, 7, 0, "started", 8.0, 0, None),
    ]
    assert len(log) == 3 and log.column("time_s").tolist() == [600, 660, 720]


def test_running_in_steps_and_forgetting_finished_work_schedules_exactly_the_same():
    """The simulator feeds the scheduler a day at a time and drops what is over: the schedule must not notice."""
    rng = np.random.default_rng(5)
    draws = zip(rng.integers(0, 240 * 60, 60), rng.choice([1, 2, 4], 60), rng.integers(5, 90, 60), strict=True)
    specs = [{"submit_s": int(s), "gpus": int(g), "work_min": int(w), "ckpt_min": 15} for s, g, w in draws]
    jobs = make_jobs(*sorted(specs, key=lambda s: s["submit_s"]))
    fx = Effects(FLEET.n_nodes, 1, MINUTES)
    fx.arr("hz_hw")[:, 100:200] = 0.05  # attempts fail there and retry from their checkpoints
    whole = run(jobs, fx)

    stepped = Scheduler(FLEET, fx, np.random.default_rng(0))
    seen, events, sizes = {}, [], []
    for first in range(0, MINUTES, 60):  # an "hour" stands for a day: its jobs, its minutes, then forget
        mine = (jobs.submit_s >= first * 60) & (jobs.submit_s < (first + 60) * 60)
        stepped.add_jobs(jobs.take(np.flatnonzero(mine)), ["torch"] * int(mine.sum()))
        stepped.advance(first + 61)
        seen.update(stepped.attempts)
        events += list(stepped.events.split((first + 60) * 60))
        stepped.forget(first + 60)
        sizes.append(len(stepped.attempts))
    events += list(stepped.events)

    def attempts(found):
        return [(a.job, a.attempt, a.start, a.end, a.state, a.previous, a.saved) for a in found]

    assert attempts(seen[i] for i in sorted(seen)) == attempts(whole.attempts)
    assert events == list(whole.events)
    assert any(a.previous >= 0 for a in whole.attempts)  # retries resumed from a kept predecessor
    assert len(stepped.ready_min) < len(jobs) and max(sizes) < len(whole.attempts)  # finished work was forgotten
