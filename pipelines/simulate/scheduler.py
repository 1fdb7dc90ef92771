"""A minute-stepped cluster scheduler: priority queue with aging, reservations for jobs that waited too long (with
backfill: a job that will end before the held nodes would all be free may use them, as Slurm's backfill does),
maintenance drains, outages, and attempts that fail, lose work since their last checkpoint and requeue. Where a job
goes is `placement`; how a started attempt ends is `attempts`; this module is the loop over the minutes.

Queue wait, fragmentation and idle GPUs are not drawn: they emerge here from demand, placement and incidents.
The loop runs in steps (`advance`), fed a day of jobs at a time, and `forget` drops finished jobs and attempts no
later day can need, so a year costs the memory of the few days still in flight, not of the history.
"""

from __future__ import annotations

from array import array
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from pipelines.simulate.attempts import (
    FAILED,
    INFRA_FAILURES,
    INFRA_REASONS,
    NODE_FAIL,
    PREEMPTED,
    Attempt,
    AttemptPlanner,
)
from pipelines.simulate.effects import Effect
from pipelines.simulate.fleet import Fleet
from pipelines.simulate.incidents import Effects
from pipelines.simulate.placement import Placement
from pipelines.simulate.workload import INTERACTIVE, RETRAIN, Jobs

RESTART_OVERHEAD_MIN = 3
MAX_RETRIES = 3
DRAIN_LEAD_MIN = 60
AGED_WAIT_MIN = 120
# jobs with a deadline get nodes held for them sooner; one job at a time per region gets nodes held for it
RESERVE_AFTER_MIN = {RETRAIN: 30}


@dataclass(slots=True)
class QueueEntry:
    """A waiting attempt as the scheduling loop reads it."""

    key: tuple[int, int, int]  # the queue's order: priority with aging, then ready minute, then job
    job: int
    attempt: int
    ready: int  # the minute it became ready to start
    saved: float  # work it resumes from (a requeued attempt's last checkpoint)
    noted: bool  # its pending event was written (or it started): never twice
    region: int
    request: tuple[int, int, bool]  # region, SKU asked for, whole nodes: what "did not fit" is shared by
    size: int  # nodes for a gang job, GPUs otherwise
    patience: int  # minutes it waits before the scheduler reserves nodes for it
    previous: int  # the attempt it resumes (its index), -1 for a job's first attempt


class EventLog:
    """The run's scheduler events as typed columns rather than a tuple of Python objects each: with slotted attempts,
    the 90-day simulation's peak went from 5,128 to 4,047 MiB. Reads back as tuples of
    (time_s, job, attempt, event_type, gpus, attempt_index|-1, reason)."""

    KINDS = ("submitted", "pending", "started", "ended", "requeued")
    COLUMNS = ("time_s", "job", "attempt", "kind", "gpus", "index", "reason")

    def __init__(self) -> None:
        self.time_s, self.job, self.attempt = array("q"), array("i"), array("i")
        self.kind, self.gpus, self.index, self.reason = array("b"), array("d"), array("i"), array("i")
        self._kind_codes = {k: i for i, k in enumerate(self.KINDS)}
        self.reasons: list[str | None] = [None]
        self._reason_codes: dict[str | None, int] = {None: 0}

    def append(self, time_s, job, attempt, kind: str, gpus, index: int, reason: str | None) -> None:
        code = self._reason_codes.get(reason)
        if code is None:
            code = self._reason_codes[reason] = len(self.reasons)
            self.reasons.append(reason)
        self.time_s.append(int(time_s))
        self.job.append(int(job))
        self.attempt.append(int(attempt))
        self.kind.append(self._kind_codes[kind])
        self.gpus.append(float(gpus))
        self.index.append(int(index))
        self.reason.append(code)

    def __len__(self) -> int:
        return len(self.time_s)

    def __getitem__(self, i: int) -> tuple:
        kind, reason = self.KINDS[self.kind[i]], self.reasons[self.reason[i]]
        return self.time_s[i], self.job[i], self.attempt[i], kind, self.gpus[i], self.index[i], reason

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def column(self, name: str) -> np.ndarray:
        return np.frombuffer(getattr(self, name), dtype=getattr(self, name).typecode)

    def renumber(self, job_numbers: np.ndarray, attempt_position: dict[int, int]) -> None:
        """Jobs by their position in the sorted `job_numbers` kept, attempts by theirs in a day's list (-1 stays)."""
        jobs = np.searchsorted(job_numbers, self.column("job"))
        index = np.array([attempt_position[i] if i >= 0 else -1 for i in self.index.tolist()], np.int32)
        self.job, self.index = array("i", jobs.astype(np.int32).tobytes()), array("i", index.tobytes())

    def split(self, before_s: int) -> EventLog:
        """The events before `before_s`, taken out of this log (events arrive in time order, give or take the
        seconds between a submission and the minute the scheduler sees it)."""
        early = self.column("time_s") < before_s
        taken = EventLog()
        taken.reasons, taken._reason_codes = self.reasons, self._reason_codes
        for name in self.COLUMNS:
            values = self.column(name)
            getattr(taken, name).frombytes(values[early].tobytes())
            setattr(self, name, array(getattr(self, name).typecode, values[~early].tobytes()))
        return taken


@dataclass
class Schedule:
    attempts: list[Attempt]
    events: EventLog


JOB_COLUMNS = ("cls", "team", "region", "model", "gpus", "n_nodes", "sku_req", "work_min", "fate", "fate_frac",
               "priority", "ckpt_min", "reports_steps", "is_dummy")  # fmt: skip


def schedule_all(jobs: Jobs, fleet: Fleet, fx: Effects, framework_of: list[str], rng: np.random.Generator) -> Schedule:
    """Every attempt and event of a short run in one go (tests, small fleets)."""
    scheduler = Scheduler(fleet, fx, rng)
    scheduler.add_jobs(jobs, framework_of)
    scheduler.advance(fx.minutes)
    return Schedule(list(scheduler.attempts.values()), scheduler.events)


class Scheduler:
    def __init__(self, fleet: Fleet, fx: Effects, rng: np.random.Generator):
        self.fleet, self.fx, self.rng = fleet, fx, rng
        self.T = fx.minutes
        self.placement = Placement(fleet, fx.get("spread"))
        self.attempts: dict[int, Attempt] = {}  # by index, the ones not forgotten yet
        self.n_attempts = 0
        self.events = EventLog()
        self.ends: dict[int, list[int]] = defaultdict(list)
        self.on_node: list[set[int]] = [set() for _ in range(fleet.n_nodes)]
        self.drain = _drain(fx)
        self.boost_edges = {t for t0, t1, *_ in fx.prio_boost for t in (t0, t1)}
        self._released = False
        self._held: dict[int, tuple[tuple[int, int], np.ndarray]] = {}  # region -> (job, attempt), its held nodes
        # per job, by job number: dicts rather than lists so finished jobs can be forgotten
        self._cols: dict[str, dict[int, object]] = {k: {} for k in JOB_COLUMNS}
        self.framework_of: dict[int, str] = {}
        self.ready_min: dict[int, int] = {}
        self.submit_s: dict[int, int] = {}
        self.n_jobs = 0
        self.next_job = 0
        self.t = 0  # the next minute to run
        self.queue: list[QueueEntry] = []
        self.clears = _node_clears(fx)
        self.down = fx.get("sched_down")
        self.changes = self._state_changes(self.down)
        self.planner = AttemptPlanner(self._cols, fx, fleet.sku_array("speed"), self.framework_of, rng)

    def add_jobs(self, jobs: Jobs, framework_of: list[str]) -> None:
        """The next jobs in submission order (numbered on from the last ones added)."""
        self._clamp_to_fleet(jobs)
        numbers = range(self.n_jobs, self.n_jobs + len(jobs))
        for name in JOB_COLUMNS:
            self._cols[name].update(zip(numbers, getattr(jobs, name).tolist(), strict=True))
        self.framework_of.update(zip(numbers, framework_of, strict=True))
        self.ready_min.update(zip(numbers, ((jobs.submit_s + 59) // 60).tolist(), strict=True))
        self.submit_s.update(zip(numbers, jobs.submit_s.tolist(), strict=True))
        self.n_jobs += len(jobs)

    def _clamp_to_fleet(self, jobs: Jobs) -> None:
        """A job can never ask for more than its region has: single-node jobs fit the largest eligible node,
        gang jobs ask for at most the eligible nodes there are (scenario fleets can be tiny)."""
        fleet = self.fleet
        for region in range(len(fleet.regions)):
            for sku in range(-1, len(fleet.skus)):
                mine = (jobs.region == region) & (jobs.sku_req == sku)
                if not mine.any():
                    continue
                nodes = self.placement.eligible(region, sku)
                jobs.gpus[mine & (jobs.n_nodes == 0)] = np.minimum(
                    jobs.gpus[mine & (jobs.n_nodes == 0)], fleet.node_gpus[nodes].max()
                )
                jobs.n_nodes[mine] = np.minimum(jobs.n_nodes[mine], len(nodes))

    def advance(self, until: int) -> None:
        """Run the minutes up to `until` (exclusive): the jobs submitted by then must have been added."""
        c, queue, down, changes = self._cols, self.queue, self.down, self.changes
        ready_min, submit_s = self.ready_min, self.submit_s
        minutes = range(self.t, min(until, self.T))
        for t in minutes:
            for a in self.ends.pop(t, ()):
                attempt = self.attempts.get(a)  # gone when it was killed earlier and forgotten since
                if attempt is not None and not attempt.closed:
                    self._finish(a, t, queue)
            for node, state, reason in self.clears.get(t, ()):
                for a in sorted(self.on_node[node]):
                    self._kill(a, t, queue, state, None, reason)
            full = self._released or t in changes or t % 60 == 0
            self._released = False
            fresh = []
            next_job = self.next_job
            while next_job < self.n_jobs and ready_min[next_job] <= t:
                self.events.append(submit_s[next_job], next_job, 0, "submitted", c["gpus"][next_job], -1, None)
                fresh.append(self._entry(next_job, 0, ready_min[next_job], 0.0, t, -1))
                next_job += 1
            self.next_job = next_job
            if full:  # GPUs were freed or the rules changed: everyone waiting gets another look, in order
                if t % 60 == 0 or t in changes:  # aging and priority changes move the order
                    for entry in queue:
                        entry.key = self._key(entry.job, t, entry.ready)
                queue.extend(fresh)
                queue.sort(key=lambda e: e.key)
                queue[:] = self._schedule(t, queue, down, full=True)
            elif fresh:  # nothing was freed: only the newcomers can possibly fit
                fresh.sort(key=lambda e: e.key)
                waiting = self._schedule(t, fresh, down, full=False)
                if waiting:
                    queue.extend(waiting)
                    queue.sort(key=lambda e: e.key)
        self.t = max(self.t, min(until, self.T))

    def forget(self, before: int) -> None:
        """Drop attempts that ended before minute `before` and the jobs nothing left refers to: no later minute or
        day reads them (their events are out, their GPUs given back, no requeue waits on them)."""
        done = [i for i, a in self.attempts.items() if a.closed and a.end < before]
        for i in done:
            del self.attempts[i]
        live = {e.job for e in self.queue} | {a.job for a in self.attempts.values()}
        over = [j for j in self.ready_min if j < self.next_job and j not in live]
        for column in (*self._cols.values(), self.framework_of, self.ready_min, self.submit_s):
            for j in over:
                del column[j]

    def needed_attempts(self) -> set[int]:
        """Attempts a later day still reads: the ones kept, and those that kept attempts or queued retries resume
        from (their checkpoints)."""
        needed = set(self.attempts)
        needed.update(a.previous for a in self.attempts.values() if a.previous >= 0)
        needed.update(e.previous for e in self.queue if e.previous >= 0)
        return needed

    def _state_changes(self, down: np.ndarray | None) -> set[int]:
        """Minutes at which priorities, drains, outages or placement policy change."""
        edges = set(self.boost_edges)
        if self.drain is not None:
            edges.update(self.drain.changes())
        for flags in (down, self.fx.get("spread")):
            if flags is not None:
                steps = np.flatnonzero((np.diff(flags.astype(np.int8), axis=1) != 0).any(axis=0)) + 1
                edges.update(steps.tolist())
        return edges

    def _entry(self, j: int, attempt: int, ready: int, saved: float, t: int, previous: int) -> QueueEntry:
        """What the scheduling loop needs of a waiting attempt, looked up once."""
        c = self._cols
        gang = c["n_nodes"][j] > 0
        request = (c["region"][j], c["sku_req"][j], gang)
        size = c["n_nodes"][j] if gang else c["gpus"][j]
        patience = RESERVE_AFTER_MIN.get(c["cls"][j], AGED_WAIT_MIN)
        return QueueEntry(
            self._key(j, t, ready), j, attempt, ready, saved, False, c["region"][j], request, size, patience, previous
        )

    def _key(self, j: int, t: int, ready: int) -> tuple[int, int, int]:
        c = self._cols
        prio = self.fx.priority(c["priority"][j], t, c["cls"][j], c["team"][j])
        return (-(prio + min(20, (t - ready) // 60)), ready, j)  # aging: a point an hour waited

    def _schedule(self, t: int, queue: list[QueueEntry], down: np.ndarray | None, full: bool) -> list[QueueEntry]:
        """Start what fits, in queue order. A full pass (the whole queue) decides who holds nodes; a pass over the
        newcomers alone keeps the holds the last full pass made."""
        c = self._cols
        drained = self.drain.column(t) if self.drain is not None else np.zeros(self.fleet.n_nodes, bool)
        blocked = drained.copy()
        smallest_miss: dict[tuple[int, int, bool], int] = {}  # what did not fit this pass: bigger won't either
        backfill_miss: dict[tuple[int, int, bool], int] = {}  # the same, on the held nodes
        holds: dict[int, tuple[np.ndarray, int]] = {}  # region -> (held nodes, minute they should all be free)
        if not full:
            for region, (_, nodes) in self._held.items():
                holds[region] = self._hold_state(nodes, t, blocked)
        waiting = []
        never = 1 << 30
        for entry in queue:
            region = entry.region
            if down is not None and down[region, t]:
                if not entry.noted:
                    self._note_pending(entry, t, "SchedulerDown")
                waiting.append(entry)
                continue
            request, size = entry.request, entry.size
            j = entry.job
            nodes = None
            if size < smallest_miss.get(request, never):  # something no bigger already failed this pass
                nodes = self.placement.place(region, request[1], c["gpus"][j], c["n_nodes"][j], t, blocked)
                if nodes is None:
                    smallest_miss[request] = size
            if nodes is None and region in holds and size < backfill_miss.get(request, never):
                nodes = self._backfill(entry, t, blocked, drained, holds[region])
                if nodes is None and t + self._time_limit(entry) <= holds[region][1]:
                    backfill_miss[request] = size  # it was short enough and did not fit: bigger won't either
            if nodes is None:
                if t - entry.ready >= entry.patience and region not in holds:
                    holds[region] = self._hold(entry, t, blocked, drained)
                    smallest_miss.clear()  # the hold changed what is free
                    backfill_miss.clear()
                if not entry.noted:
                    self._note_pending(entry, t, "Resources" if entry.ready == t else "Priority")
                waiting.append(entry)
                continue
            self._start(entry, t, nodes, self.placement.take(nodes, c["gpus"][j], request[2]))
        if full:  # a region whose holder started or was not reached holds nothing now
            self._held = {region: held for region, held in self._held.items() if region in holds}
        return waiting

    def _hold(self, entry: QueueEntry, t: int, blocked: np.ndarray, drained: np.ndarray) -> tuple[np.ndarray, int]:
        """Hold nodes for a job that waited too long: the same nodes on every pass while it waits (so the jobs
        backfilled there shorten its wait instead of moving it), chosen afresh when one of them is drained."""
        key = (entry.job, entry.attempt)
        held = self._held.get(entry.region)
        if held is None or held[0] != key or drained[held[1]].any():
            nodes = self.placement.reserve(entry.region, entry.request[1], self._cols["n_nodes"][entry.job], drained)
            held = self._held[entry.region] = (key, nodes)
        return self._hold_state(held[1], t, blocked)

    def _hold_state(self, nodes: np.ndarray, t: int, blocked: np.ndarray) -> tuple[np.ndarray, int]:
        """Block the held nodes for this pass; they should all be free when the last job on them ends (the
        simulator knows when that is; a real scheduler reads the jobs' time limits, which run longer)."""
        blocked[nodes] = True
        ends = [self.attempts[i].end for n in nodes.tolist() for i in self.on_node[n]]
        return nodes, max(ends, default=t)

    def _backfill(
        self, entry: QueueEntry, t: int, blocked: np.ndarray, drained: np.ndarray, hold: tuple[np.ndarray, int]
    ) -> np.ndarray | None:
        """The held nodes the entry may start on now: only if its time limit ends before they should all be free."""
        held, free_at = hold
        if t + self._time_limit(entry) > free_at:
            return None
        open_nodes = blocked.copy()
        open_nodes[held] = drained[held]
        c = self._cols
        j = entry.job
        return self.placement.place(entry.region, entry.request[1], c["gpus"][j], c["n_nodes"][j], t, open_nodes)

    def _time_limit(self, entry: QueueEntry) -> int:
        """The run time the scheduler is told to expect: the work left and the restart. A job slowed by an incident
        can run past it and delay the held job, as on a real cluster."""
        overhead = RESTART_OVERHEAD_MIN if entry.attempt > 0 else 0
        return int(np.ceil(self._cols["work_min"][entry.job] - entry.saved)) + overhead

    def _note_pending(self, entry: QueueEntry, t: int, reason: str) -> None:
        if not entry.noted:
            entry.noted = True
            self.events.append(t * 60, entry.job, entry.attempt, "pending", self._cols["gpus"][entry.job], -1, reason)

    def _start(self, entry: QueueEntry, t: int, nodes: np.ndarray, gpus: np.ndarray) -> None:
        j, attempt, saved = entry.job, entry.attempt, entry.saved
        held = self._held.get(entry.region)
        if held is not None and held[0] == (j, attempt):  # it starts: the nodes held for it are its own now
            del self._held[entry.region]
        entry.noted = True  # placed: never pending
        overhead = RESTART_OVERHEAD_MIN if attempt > 0 else 0
        a = Attempt(j, attempt, t, nodes, gpus, int(self.fleet.node_sku[nodes[0]]), saved, overhead, entry.previous)
        index = self.n_attempts
        self.n_attempts += 1
        self.attempts[index] = a
        for n in nodes.tolist():
            self.on_node[n].add(index)
        self.planner.plan(a)
        self.ends[a.end].append(index)
        self.events.append(t * 60, j, attempt, "started", len(gpus), index, None)

    def _finish(self, index: int, t: int, queue: list[QueueEntry]) -> None:
        a = self.attempts[index]
        a.closed = True
        self._release(index)
        self.events.append(t * 60, a.job, a.attempt, "ended", len(a.gpus), index, a.reason)
        if a.state in (NODE_FAIL, PREEMPTED) or (a.state == FAILED and a.reason in INFRA_REASONS):
            self._requeue(a, index, t, queue)

    def _kill(
        self, index: int, t: int, queue: list[QueueEntry], state: int, exit_code: int | None, reason: str
    ) -> None:
        a = self.attempts[index]
        done = max(0.0, (t - a.start) - a.overhead)
        a.progress = min(a.progress, a.saved + done)
        a.end, a.state, a.exit_code, a.reason = t, state, exit_code, reason
        self._finish(index, t, queue)

    def _release(self, index: int) -> None:
        a = self.attempts[index]
        self._released = True
        for n in a.nodes.tolist():
            self.on_node[n].discard(index)
        self.placement.give_back(a.nodes, a.gpus)

    def _requeue(self, a: Attempt, index: int, t: int, queue: list[QueueEntry]) -> None:
        c = self._cols
        if a.attempt >= MAX_RETRIES or c["cls"][a.job] == INTERACTIVE:
            return
        ckpt = c["ckpt_min"][a.job]
        saved = a.saved + (np.floor((a.progress - a.saved) / ckpt) * ckpt if ckpt else 0.0)
        self.events.append(t * 60, a.job, a.attempt + 1, "requeued", c["gpus"][a.job], -1, a.reason)
        queue.append(self._entry(a.job, a.attempt + 1, t + 1, float(saved), t, index))


def _drain(fx: Effects) -> Effect | None:
    """True where a node takes no new placements: in maintenance or one starting within the lead time, or drained
    for an ECC error until it is reset."""
    maint, ecc = fx.get("maint"), fx.get("ecc_drain")
    if maint is None and ecc is None:
        return None
    drain = Effect(fx.n_nodes, fx.minutes, False, np.bool_)
    for segment in maint.segments if maint is not None else ():
        drain.apply(segment.rows, segment.start - DRAIN_LEAD_MIN, segment.stop, "set", segment.value)
    for segment in ecc.segments if ecc is not None else ():
        drain.apply(segment.rows, segment.start, segment.stop, "set", segment.value)
    return drain


def _node_clears(fx: Effects) -> dict[int, list[tuple[int, int, str]]]:
    """Minute -> (node, end state, reason) for every node whose jobs are stopped then: planned maintenance starting
    (preempted) and an ECC storm's first uncorrectable error (the node agent drains it; its jobs fail)."""
    clears: dict[int, list[tuple[int, int, str]]] = defaultdict(list)
    maint = fx.get("maint")
    if maint is not None:
        starts = set()  # (node, minute) where a node's maintenance begins: in it then, not the minute before
        for segment in maint.segments:
            rows = np.arange(fx.n_nodes) if segment.rows is None else segment.rows
            now = maint.points(rows, segment.start)
            before = maint.points(rows, segment.start - 1) if segment.start > 0 else np.zeros(len(rows), bool)
            starts.update((int(node), segment.start) for node in rows[now & ~before])
        for node, minute in sorted(starts):
            clears[minute].append((node, PREEMPTED, "drained for planned maintenance"))
    for node, minute in fx.ecc_trips:
        clears[minute].append((node, NODE_FAIL, INFRA_FAILURES["hz_hw"][2]))
    return clears
