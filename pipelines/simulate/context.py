"""One simulated day as the writers see it: the jobs still in flight, the attempts that can touch the day and the
day's scheduler events, as arrays numbered from 0 (a job's number less the first kept job's, an attempt's position
in the day's list), so memory follows the day and the jobs in flight, not the history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from pipelines.simulate.attempts import Attempt, step_parts
from pipelines.simulate.changes import ChangeLog
from pipelines.simulate.fleet import Fleet
from pipelines.simulate.incidents import Effects
from pipelines.simulate.scheduler import Schedule
from pipelines.simulate.workload import MODELS, Jobs

CHECKPOINT_S_PER_COMPUTE_S = 25.0  # a checkpoint costs about 25 steps' compute, within [5, 45] s
MAX_CHECKPOINT_S = 50.0  # a slow write still leaves the minute a few steps


@dataclass
class SimContext:
    seed: int
    origin: datetime  # minute 0 of the simulation (the warm-up starts here)
    start_minute: int  # the scenario's first minute
    days: int
    fleet: Fleet
    jobs: Jobs  # the jobs kept (in flight or still to come), numbered by position in `job_numbers`
    job_ids: np.ndarray
    framework_of: np.ndarray
    alive: np.ndarray  # per job: written (a warm-up job that is over before the scenario starts is not)
    fx: Effects
    changes: ChangeLog
    schedule: Schedule  # the day's attempts and events, numbered within the day
    a_index: np.ndarray  # per attempt: its number in the whole run (the runtime writer's counters follow it)
    a_previous: np.ndarray  # per attempt: the run-wide number of the attempt it resumes, -1 for a first attempt
    # per attempt
    a_job: np.ndarray
    a_attempt: np.ndarray
    a_start: np.ndarray
    a_end: np.ndarray
    a_state: np.ndarray
    a_sku: np.ndarray
    a_overhead: np.ndarray
    a_n_nodes: np.ndarray
    a_node_off: np.ndarray  # offsets into a_nodes_flat, len = attempts + 1
    a_nodes_flat: np.ndarray
    a_gpu_off: np.ndarray
    a_gpus_flat: np.ndarray
    a_paced: np.ndarray  # reports steps, so progress is paced by step time
    a_comp: np.ndarray  # healthy step parts on this attempt's SKU and size (s)
    a_dl: np.ndarray
    a_sync: np.ndarray
    a_fw: np.ndarray  # framework slowdown on compute
    a_ckpt_s: np.ndarray  # a checkpoint's seconds on healthy storage

    def checkpoint_s(self, att: np.ndarray, si) -> np.ndarray:
        """A checkpoint's seconds: the attempt's own, longer while its storage is slow (`si`, the I/O slowdown of a
        storage incident, which also slows the data loader)."""
        return np.minimum(self.a_ckpt_s[att] * si, MAX_CHECKPOINT_S)

    def day_minutes(self, day: int) -> tuple[int, int]:
        first = self.start_minute + day * 1440
        return first, first + 1440

    def day_date(self, day: int):
        return (self.origin + timedelta(minutes=self.start_minute) + timedelta(days=day)).date()

    def overlapping(self, first: int, last: int) -> np.ndarray:
        return np.flatnonzero((self.a_start < last) & (self.a_end > first))

    def at(self, minute: int | np.ndarray):
        return self.origin + timedelta(minutes=int(minute))


def attempt_arrays(fleet: Fleet, jobs: Jobs, job_numbers: np.ndarray, fx: Effects, framework_of: np.ndarray,
                   attempts: list[Attempt]) -> dict:  # fmt: skip
    """Column arrays of the day's attempts (each job by its position in the sorted `job_numbers` kept), with the
    healthy step time of each."""
    speed = fleet.sku_array("speed")
    n = len(attempts)
    a_job = np.searchsorted(job_numbers, np.fromiter((a.job for a in attempts), np.int64, n))
    node_counts = np.fromiter((len(a.nodes) for a in attempts), np.int64, n)
    gpu_counts = np.fromiter((len(a.gpus) for a in attempts), np.int64, n)
    a_sku = np.fromiter((a.sku for a in attempts), np.int64, n)
    model = jobs.model[a_job] if n else np.zeros(0, np.int64)
    paced = (jobs.reports_steps[a_job] & ~jobs.is_dummy[a_job] & (model >= 0)) if n else np.zeros(0, bool)
    parts = np.array(
        [
            step_parts(int(m), float(speed[s]), int(g), int(k) > 1) if p else (0.0, 0.0, 0.0)
            for m, s, g, k, p in zip(model, a_sku, gpu_counts, node_counts, paced, strict=True)
        ]
    )
    parts = parts.reshape(n, 3)
    fw = np.array([fx.fw_slow.get(framework_of[j], 1.0) for j in a_job.tolist()]) if n else np.zeros(0)
    compute = np.array([MODELS[int(m)][1] if m >= 0 else 0.0 for m in model]) if n else np.zeros(0)
    return {
        "a_job": a_job,
        "a_attempt": np.fromiter((a.attempt for a in attempts), np.int64, n),
        "a_previous": np.fromiter((a.previous for a in attempts), np.int64, n),
        "a_start": np.fromiter((a.start for a in attempts), np.int64, n),
        "a_end": np.fromiter((a.end for a in attempts), np.int64, n),
        "a_state": np.fromiter((a.state for a in attempts), np.int64, n),
        "a_sku": a_sku,
        "a_overhead": np.fromiter((a.overhead for a in attempts), np.int64, n),
        "a_n_nodes": node_counts,
        "a_node_off": np.concatenate([[0], np.cumsum(node_counts)]),
        "a_nodes_flat": np.concatenate([a.nodes for a in attempts]) if n else np.zeros(0, np.int64),
        "a_gpu_off": np.concatenate([[0], np.cumsum(gpu_counts)]),
        "a_gpus_flat": np.concatenate([a.gpus for a in attempts]) if n else np.zeros(0, np.int64),
        "a_paced": paced,
        "a_comp": parts[:, 0],
        "a_dl": parts[:, 1],
        "a_sync": parts[:, 2],
        "a_fw": fw,
        "a_ckpt_s": np.clip(compute * CHECKPOINT_S_PER_COMPUTE_S, 5, 45),
    }
