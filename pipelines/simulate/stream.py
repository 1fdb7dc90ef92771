"""The run as a stream of days: everything decided up front that is small (fleet, changes, incidents and their
truth), then the jobs and the scheduler a day at a time. Each day is handed to the writers as a `SimContext`, and
what no later day can read is forgotten, so a year costs the memory of a day and the jobs in flight."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import numpy as np

from pipelines.simulate.changes import ChangeLog, add_benign_changes, framework_versions
from pipelines.simulate.context import SimContext, attempt_arrays
from pipelines.simulate.fleet import build_fleet
from pipelines.simulate.incidents import build_effects
from pipelines.simulate.scenario import Scenario
from pipelines.simulate.scheduler import EventLog, Schedule, Scheduler
from pipelines.simulate.workload import TEAMS, Jobs, dummy_jobs, job_days

WARMUP_DAYS = 2
FIRST_JOB_ID = 4_000_000


class DayStream:
    def __init__(self, scenario: Scenario):
        self.scenario = scenario
        self.origin = scenario.start - timedelta(days=WARMUP_DAYS)
        self.start_minute = WARMUP_DAYS * 1440
        self.total_days = WARMUP_DAYS + scenario.days
        minutes = self.total_days * 1440
        seed = scenario.seed
        self.fleet = build_fleet(scenario.fleet)
        self.changes = ChangeLog(self.fleet, list(TEAMS), self.origin)
        add_benign_changes(self.changes, minutes, np.random.default_rng([seed, 1]))
        self.fx, self.truth = build_effects(
            scenario, self.fleet, self.changes, self.origin, minutes, np.random.default_rng([seed, 2])
        )
        weekday = self.origin.weekday()
        self.demand = scenario.region_demand()
        self._days: Iterator[Jobs] = job_days(
            self.fleet, weekday, self.total_days, np.random.default_rng([seed, 3]), self.demand
        )
        self._dummy = self._dummy_jobs(weekday)
        self._gaming = [t for t in self.truth if t["kind"] == "dummy_workload"]
        for incident in self._gaming:
            incident["job_ids"] = []
        self.scheduler = Scheduler(self.fleet, self.fx, np.random.default_rng([seed, 4]))
        self.jobs = Jobs.empty()  # the jobs kept: running, waiting or still to come (a stuck one holds only itself)
        self.job_numbers = np.zeros(0, np.int64)  # their run-wide numbers, ascending
        self.framework_of = np.zeros(0, dtype=object)
        self.loaded_days = 0
        self.scenario_jobs = 0  # jobs submitted from the scenario's start on

    def _dummy_jobs(self, weekday: int) -> Jobs:
        """A dummy-workload incident's busy jobs, drawn where a run that made every job up front drew them: after
        all the days' jobs, from the same generator (replayed here without keeping the jobs)."""
        if not self.fx.dummy:
            return Jobs.empty()
        rng = np.random.default_rng([self.scenario.seed, 3])
        for _ in job_days(self.fleet, weekday, self.total_days, rng, self.demand):
            pass
        jobs = Jobs.concat([dummy_jobs(self.fleet, t0, t1, team, gpus, rng) for t0, t1, team, gpus in self.fx.dummy])
        return jobs.take(np.argsort(jobs.submit_s, kind="stable"))

    def _load_day(self) -> None:
        """The next day's jobs (the dummy ones submitted that day among them) into the scheduler and the window."""
        day = self.loaded_days
        regular = next(self._days)
        dummy_day = (self._dummy.submit_s // 86400) == day
        jobs = Jobs.concat([regular, self._dummy.take(np.flatnonzero(dummy_day))])
        jobs = jobs.take(np.argsort(jobs.submit_s, kind="stable"))
        framework = framework_versions(self.changes, jobs.team, jobs.submit_s // 60)
        numbers = np.arange(len(jobs)) + self.scheduler.n_jobs
        self.scheduler.add_jobs(jobs, framework.tolist())  # clamps sizes to the fleet, in place
        self.jobs = Jobs.concat([self.jobs, jobs])
        self.job_numbers = np.concatenate([self.job_numbers, numbers])
        self.framework_of = np.concatenate([self.framework_of, framework])
        self.scenario_jobs += int((jobs.submit_s >= self.start_minute * 60).sum())
        self._name_gaming_jobs(jobs, numbers)
        self.loaded_days += 1

    def _name_gaming_jobs(self, jobs: Jobs, numbers: np.ndarray) -> None:
        """A dummy-workload incident's truth lists its jobs, so anti-gaming checks can be scored job by job."""
        for incident in self._gaming:
            start = (incident["start_at"] - self.origin).total_seconds()
            end = (incident["end_at"] - self.origin).total_seconds()
            team = TEAMS.index(incident["scope"]["team"])
            chosen = jobs.is_dummy & (jobs.team == team) & (jobs.submit_s >= start) & (jobs.submit_s < end)
            incident["job_ids"] += job_ids(numbers[chosen]).tolist()

    def day(self, day: int) -> SimContext:
        """The scenario's `day`, scheduled through the first minute after it (a job submitted in the day's last
        seconds is seen then, and its submission belongs to the day)."""
        first = self.start_minute + day * 1440
        last = first + 1440
        while self.loaded_days < self.total_days and self.loaded_days * 1440 <= last:
            self._load_day()
        self.scheduler.advance(last + 1)
        events = self.scheduler.events.split(last * 60)
        numbers = list(self.scheduler.attempts)
        attempts = [self.scheduler.attempts[g] for g in numbers]
        local = {g: i for i, g in enumerate(numbers)}
        events.renumber(self.job_numbers, local)
        ctx = SimContext(
            seed=self.scenario.seed,
            origin=self.origin,
            start_minute=self.start_minute,
            days=self.scenario.days,
            fleet=self.fleet,
            jobs=self.jobs,
            job_ids=job_ids(self.job_numbers),
            framework_of=self.framework_of,
            alive=self._alive(day, events, attempts),
            fx=self.fx,
            changes=self.changes,
            schedule=Schedule(attempts, events),
            a_index=np.array(numbers, np.int64),
            **attempt_arrays(self.fleet, self.jobs, self.job_numbers, self.fx, self.framework_of, attempts),
        )
        return ctx

    def _alive(self, day: int, events: EventLog, attempts: list) -> np.ndarray:
        """Jobs written: those the scheduler has seen (a job submitted in the run's last seconds never is), and on
        the first day a warm-up job only if it still runs, waits or logs an event once the scenario has started."""
        alive = np.ones(len(self.jobs), bool)
        alive[self.job_numbers >= self.scheduler.next_job] = False
        if day > 0:
            return alive
        start_s = self.start_minute * 60
        seen = alive.copy()
        alive[:] = False
        alive[events.column("job")[events.column("time_s") >= start_s]] = True
        later = self.scheduler.events  # the events after the day: all after the start
        alive[self._positions(later.column("job"))] = True
        alive[self._positions([a.job for a in attempts if a.end > self.start_minute])] = True
        alive[self._positions([e.job for e in self.scheduler.queue])] = True
        return alive & seen

    def _positions(self, numbers) -> np.ndarray:
        return np.searchsorted(self.job_numbers, np.asarray(numbers, np.int64))

    def forget(self, day: int) -> set[int]:
        """Drop what the days after `day` cannot read; returns the attempts they still can (for counters)."""
        last = self.start_minute + (day + 1) * 1440
        self.scheduler.forget(last)
        kept = np.isin(self.job_numbers, np.fromiter(self.scheduler.ready_min, np.int64))
        if not kept.all():
            self.jobs = self.jobs.take(np.flatnonzero(kept))
            self.framework_of = self.framework_of[kept]
            self.job_numbers = self.job_numbers[kept]
        return self.scheduler.needed_attempts()


def job_ids(numbers: np.ndarray) -> np.ndarray:
    return np.char.mod("%d", numbers + FIRST_JOB_ID).astype(object)
