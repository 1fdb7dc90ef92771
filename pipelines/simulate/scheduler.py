"""A minute-stepped cluster scheduler: priority queue with aging, reservations for jobs that waited too long,
maintenance drains, outages, and attempts that fail, lose work since their last checkpoint and requeue. Where a job
goes is `placement`; how a started attempt ends is `attempts`; this module is the loop over the minutes.

Queue wait, fragmentation and idle GPUs are not drawn: they emerge here from demand, placement and incidents.
"""

from __future__ import annotations

from array import array
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from pipelines.simulate.attempts import (
    FAILED,
    INFRA_FAILURES,
    INFRA_REASONS,
    NODE_FAIL,
    PREEMPTED,
    Attempt,
    AttemptPlanner,
)
from pipelines.simulate.fleet import Fleet
from pipelines.simulate.incidents import Effects
from pipelines.simulate.placement import Placement
from pipelines.simulate.workload import INTERACTIVE, RETRAIN, Jobs

RESTART_OVERHEAD_MIN = 3
MAX_RETRIES = 3
DRAIN_LEAD_MIN = 60
AGED_WAIT_MIN = 120
# jobs with a deadline get nodes held for them sooner; a region holds nodes for a few waiting jobs at a time
RESERVE_AFTER_MIN = {RETRAIN: 30}
NODES_PER_RESERVATION = 1 << 30  # one job at a time per region gets nodes held for it (a gang can need many)


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


class EventLog:
    """The run's scheduler events as typed columns rather than a tuple of Python objects each: with slotted attempts,
    the 90-day simulation's peak went from 5,128 to 4,047 MiB. Reads back as tuples of
    (time_s, job, attempt, event_type, gpus, attempt_index|-1, reason)."""

    KINDS = ("submitted", "pending", "started", "ended", "requeued")

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


@dataclass
class Schedule:
    attempts: list[Attempt]
    events: EventLog


class Scheduler:
    def __init__(self, jobs: Jobs, fleet: Fleet, fx: Effects, framework_of: list[str], rng: np.random.Generator):
        self.jobs, self.fleet, self.fx, self.rng = jobs, fleet, fx, rng
        self.framework_of = framework_of
        self.T = fx.minutes
        self.placement = Placement(fleet, fx.get("spread"))
        self.attempts: list[Attempt] = []
        self.events = EventLog()
        self.ends: dict[int, list[int]] = defaultdict(list)
        self.on_node: list[set[int]] = [set() for _ in range(fleet.n_nodes)]
        self.drain = _drain_mask(fx.get("maint"))
        if fx.get("ecc_drain") is not None:  # a node drained for an ECC error takes no jobs until it is reset
            ecc = fx.get("ecc_drain")
            self.drain = ecc.copy() if self.drain is None else self.drain | ecc
        self.boost_edges = {t for t0, t1, *_ in fx.prio_boost for t in (t0, t1)}
        self._released = False
        region_nodes = np.bincount(fleet.node_region, minlength=len(fleet.regions))
        self.max_reservations = np.maximum(1, region_nodes // NODES_PER_RESERVATION).tolist()
        self._clamp_to_fleet()
        self._cols = {
            k: getattr(jobs, k).tolist()
            for k in (
                "cls",
                "team",
                "region",
                "model",
                "gpus",
                "n_nodes",
                "sku_req",
                "work_min",
                "fate",
                "fate_frac",
                "priority",
                "ckpt_min",
                "reports_steps",
                "is_dummy",
            )
        }
        self.planner = AttemptPlanner(self._cols, fx, fleet.sku_array("speed"), framework_of, rng)

    def _clamp_to_fleet(self) -> None:
        """A job can never ask for more than its region has: single-node jobs fit the largest eligible node,
        gang jobs ask for at most the eligible nodes there are (scenario fleets can be tiny)."""
        jobs, fleet = self.jobs, self.fleet
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

    def run(self, progress: bool = False) -> Schedule:
        jobs, c = self.jobs, self._cols
        ready_min = ((jobs.submit_s + 59) // 60).tolist()
        submit_s = jobs.submit_s.tolist()
        queue: list[QueueEntry] = []
        next_job, n_jobs = 0, len(jobs)
        clears = _node_clears(self.fx)
        down = self.fx.get("sched_down")
        changes = self._state_changes(down)
        for t in tqdm(range(self.T), desc="scheduling", unit="min", disable=not progress, mininterval=1):
            for a in self.ends.pop(t, ()):
                if not self.attempts[a].closed:
                    self._finish(a, t, queue)
            for node, state, reason in clears.get(t, ()):
                for a in sorted(self.on_node[node]):
                    self._kill(a, t, queue, state, None, reason)
            full = self._released or t in changes or t % 60 == 0
            self._released = False
            fresh = []
            while next_job < n_jobs and ready_min[next_job] <= t:
                self.events.append(submit_s[next_job], next_job, 0, "submitted", c["gpus"][next_job], -1, None)
                fresh.append(self._entry(next_job, 0, ready_min[next_job], 0.0, t))
                next_job += 1
            if full:  # GPUs were freed or the rules changed: everyone waiting gets another look, in order
                if t % 60 == 0 or t in changes:  # aging and priority changes move the order
                    for entry in queue:
                        entry.key = self._key(entry.job, t, entry.ready)
                queue.extend(fresh)
                queue.sort(key=lambda e: e.key)
                queue[:] = self._schedule(t, queue, down)
            elif fresh:  # nothing was freed: only the newcomers can possibly fit
                fresh.sort(key=lambda e: e.key)
                waiting = self._schedule(t, fresh, down)
                if waiting:
                    queue.extend(waiting)
                    queue.sort(key=lambda e: e.key)
        return Schedule(self.attempts, self.events)

    def _state_changes(self, down: np.ndarray | None) -> set[int]:
        """Minutes at which priorities, drains, outages or placement policy change."""
        edges = set(self.boost_edges)
        for flags in (down, self.drain, self.fx.get("spread")):
            if flags is not None:
                steps = np.flatnonzero((np.diff(flags.astype(np.int8), axis=1) != 0).any(axis=0)) + 1
                edges.update(steps.tolist())
        return edges

    def _entry(self, j: int, attempt: int, ready: int, saved: float, t: int) -> QueueEntry:
        """What the scheduling loop needs of a waiting attempt, looked up once."""
        c = self._cols
        gang = c["n_nodes"][j] > 0
        request = (c["region"][j], c["sku_req"][j], gang)
        size = c["n_nodes"][j] if gang else c["gpus"][j]
        patience = RESERVE_AFTER_MIN.get(c["cls"][j], AGED_WAIT_MIN)
        return QueueEntry(
            self._key(j, t, ready), j, attempt, ready, saved, False, c["region"][j], request, size, patience
        )

    def _key(self, j: int, t: int, ready: int) -> tuple[int, int, int]:
        c = self._cols
        prio = self.fx.priority(c["priority"][j], t, c["cls"][j], c["team"][j])
        return (-(prio + min(20, (t - ready) // 60)), ready, j)  # aging: a point an hour waited

    def _schedule(self, t: int, queue: list[QueueEntry], down: np.ndarray | None) -> list[QueueEntry]:
        c = self._cols
        blocked = self.drain[:, t].copy() if self.drain is not None else np.zeros(self.fleet.n_nodes, bool)
        smallest_miss: dict[tuple[int, int, bool], int] = {}  # what did not fit this pass: bigger won't either
        reservations: dict[int, int] = {}
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
            if size >= smallest_miss.get(request, never):  # something no bigger already failed this pass
                waiting.append(entry)
                continue
            j = entry.job
            nodes = self.placement.place(region, request[1], c["gpus"][j], c["n_nodes"][j], t, blocked)
            if nodes is None:
                smallest_miss[request] = size
                if t - entry.ready >= entry.patience and reservations.get(region, 0) < self.max_reservations[region]:
                    reservations[region] = reservations.get(region, 0) + 1
                    self.placement.reserve(region, request[1], c["n_nodes"][j], blocked)
                    smallest_miss.clear()  # the reservation changed what is free
                if not entry.noted:
                    self._note_pending(entry, t, "Resources" if entry.ready == t else "Priority")
                waiting.append(entry)
                continue
            self._start(entry, t, nodes, self.placement.take(nodes, c["gpus"][j], request[2]))
        return waiting

    def _note_pending(self, entry: QueueEntry, t: int, reason: str) -> None:
        if not entry.noted:
            entry.noted = True
            self.events.append(t * 60, entry.job, entry.attempt, "pending", self._cols["gpus"][entry.job], -1, reason)

    def _start(self, entry: QueueEntry, t: int, nodes: np.ndarray, gpus: np.ndarray) -> None:
        j, attempt, saved = entry.job, entry.attempt, entry.saved
        entry.noted = True  # placed: never pending
        overhead = RESTART_OVERHEAD_MIN if attempt > 0 else 0
        a = Attempt(j, attempt, t, nodes, gpus, int(self.fleet.node_sku[nodes[0]]), saved, overhead)
        index = len(self.attempts)
        self.attempts.append(a)
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
            self._requeue(a, t, queue)

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

    def _requeue(self, a: Attempt, t: int, queue: list[QueueEntry]) -> None:
        c = self._cols
        if a.attempt >= MAX_RETRIES or c["cls"][a.job] == INTERACTIVE:
            return
        ckpt = c["ckpt_min"][a.job]
        saved = a.saved + (np.floor((a.progress - a.saved) / ckpt) * ckpt if ckpt else 0.0)
        self.events.append(t * 60, a.job, a.attempt + 1, "requeued", c["gpus"][a.job], -1, a.reason)
        queue.append(self._entry(a.job, a.attempt + 1, t + 1, float(saved), t))


def _drain_mask(maint: np.ndarray | None) -> np.ndarray | None:
    """True where a node is in maintenance or one starts within the lead time: no new placements there."""
    if maint is None:
        return None
    cum = np.concatenate([np.zeros((maint.shape[0], 1), np.int64), np.cumsum(maint, axis=1)], axis=1)
    ahead = np.minimum(np.arange(maint.shape[1]) + DRAIN_LEAD_MIN + 1, maint.shape[1])
    return (cum[:, ahead] - cum[:, :-1]) > 0


def _node_clears(fx: Effects) -> dict[int, list[tuple[int, int, str]]]:
    """Minute -> (node, end state, reason) for every node whose jobs are stopped then: planned maintenance starting
    (preempted) and an ECC storm's first uncorrectable error (the node agent drains it; its jobs fail)."""
    clears: dict[int, list[tuple[int, int, str]]] = defaultdict(list)
    maint = fx.get("maint")
    if maint is not None:
        edges = maint & ~np.concatenate([np.zeros((maint.shape[0], 1), bool), maint[:, :-1]], axis=1)
        for node, minute in zip(*np.nonzero(edges), strict=True):
            clears[int(minute)].append((int(node), PREEMPTED, "drained for planned maintenance"))
    for node, minute in fx.ecc_trips:
        clears[minute].append((node, NODE_FAIL, INFRA_FAILURES["hz_hw"][2]))
    return clears
