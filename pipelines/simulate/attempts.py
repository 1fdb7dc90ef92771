"""How a started attempt ends, decided when it starts from the effects ahead (the simulator knows the future): its
pace under slowdowns, an infrastructure failure drawn against the hazard on its nodes, or its job's own fate
(completion, a user-code failure, a cancellation)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipelines.simulate.incidents import Effects
from pipelines.simulate.workload import MODELS

HZ_BASE = 5e-6  # infrastructure failures per node-minute when healthy (about 7 per 1,000 node-days)
STATES = ("running", "completed", "failed", "cancelled", "preempted", "node_fail")
RUNNING, COMPLETED, FAILED, CANCELLED, PREEMPTED, NODE_FAIL = range(6)
USER_FAILURES = (
    ("CUDA out of memory", 1),
    ("Python exception in training script", 1),
    ("killed: host out of memory", 137),
    ("Segmentation fault", 139),
)
INFRA_FAILURES = {  # cause -> (state, exit code, reason)
    "base": (NODE_FAIL, None, "Xid 79: GPU has fallen off the bus"),
    "hz_hw": (NODE_FAIL, None, "Xid 48: double-bit ECC error"),
    "hz_sw": (FAILED, 1, "Xid 13: graphics engine exception (CUDA error: an illegal memory access)"),
    "hz_net": (FAILED, 134, "NCCL watchdog timeout in all-reduce"),
}
INFRA_REASONS = {reason for _, _, reason in INFRA_FAILURES.values()}


@dataclass(slots=True)  # millions of them in a long run: no per-instance dict
class Attempt:
    job: int
    attempt: int
    start: int
    nodes: np.ndarray
    gpus: np.ndarray
    sku: int
    saved: float  # work minutes checkpointed before this attempt
    overhead: int  # restart minutes before steps resume
    previous: int = -1  # the attempt this one resumes (its index), -1 for a job's first
    end: int = -1
    state: int = RUNNING
    exit_code: int | None = None
    reason: str | None = None
    progress: float = 0.0  # work minutes reached at the end
    closed: bool = False  # its GPUs were given back


class AttemptPlanner:
    def __init__(self, cols: dict[str, dict], fx: Effects, speed: np.ndarray, framework_of: dict[int, str], rng):
        self.cols, self.fx, self.speed, self.framework_of, self.rng = cols, fx, speed, framework_of, rng
        self.T = fx.minutes
        self.slowed_cum = np.concatenate([[0], np.cumsum(fx.slowed_minutes())])
        self.hazard_names = [n for n in ("hz_hw", "hz_sw", "hz_net") if fx.get(n) is not None]
        hazardous = np.zeros(self.T, bool)
        for name in self.hazard_names:
            hazardous |= fx.get(name).departs()
        self.hazard_cum = np.concatenate([[0], np.cumsum(hazardous)])

    def plan(self, a: Attempt) -> None:
        """Set the attempt's end, state, exit code, reason and progress."""
        c = self.cols
        j = a.job
        work = c["work_min"][j]
        target = work if c["fate"][j] == 0 else max(1.0, round(c["fate_frac"][j] * work))
        need = max(1.0, target - a.saved) + a.overhead
        horizon = max(1, min(self.T - a.start, int(need * 4) + 240))
        rate = self._rate(a, horizon)  # work minutes gained per wall minute; None when always 1
        if rate is None:
            duration = int(np.ceil(need - 1e-9))
        else:
            done = np.cumsum(rate)
            duration = int(np.searchsorted(done, need - 1e-9)) + 1 if done[-1] >= need - 1e-9 else horizon + 1
        fail_at, cause = self._failure(a, min(duration, horizon))
        if fail_at is not None and fail_at < duration:
            a.end = a.start + fail_at
            a.state, a.exit_code, a.reason = INFRA_FAILURES[cause]
            gained = fail_at if rate is None else float(done[fail_at - 1])
            a.progress = a.saved + max(0.0, gained - a.overhead)
        else:
            a.end = a.start + duration
            a.progress = float(target)
            fate = c["fate"][j]
            a.state = (COMPLETED, FAILED, CANCELLED)[fate]
            if fate == 1:
                a.reason, a.exit_code = USER_FAILURES[j % len(USER_FAILURES)]
            elif fate == 2:
                a.reason, a.exit_code = "cancelled by user", 0
            else:
                a.exit_code = 0

    def _rate(self, a: Attempt, horizon: int) -> np.ndarray | None:
        c = self.cols
        j = a.job
        t0 = a.start
        fw = self.fx.fw_slow.get(self.framework_of[j], 1.0) if self.fx.fw_slow else 1.0
        paced = c["reports_steps"][j] and not c["is_dummy"][j] and c["model"][j] >= 0
        if not paced or (fw == 1.0 and self.slowed_cum[min(self.T, t0 + horizon)] == self.slowed_cum[t0]):
            return None
        comp, dl, sync = step_parts(c["model"][j], self.speed[a.sku], len(a.gpus), len(a.nodes) > 1)
        step = step_multiplier(self.fx, a.nodes, slice(t0, t0 + horizon), comp * fw, dl, sync)
        healthy = comp + dl + sync
        rate = healthy / step
        rate[: a.overhead] = 1.0
        return rate

    def _failure(self, a: Attempt, window: int) -> tuple[int | None, str | None]:
        """When the attempt dies of an infrastructure fault, if it does: exponential budget against hazard."""
        n_nodes = len(a.nodes)
        budget = self.rng.exponential()
        span = slice(a.start, a.start + window)
        parts = {"base": None}
        hazard_free = self.hazard_cum[min(self.T, a.start + window)] == self.hazard_cum[a.start]
        for name in [] if hazard_free else self.hazard_names:
            if name == "hz_net" and n_nodes < 2:
                continue
            h = self.fx.get(name)[a.nodes, span].sum(axis=0)
            if h.any():
                parts[name] = h
        if len(parts) == 1:
            at = budget / (HZ_BASE * n_nodes)
            return (max(1, int(np.ceil(at))), "base") if at < window else (None, None)
        parts["base"] = np.full(window, HZ_BASE * n_nodes)
        total = np.cumsum(sum(parts.values()))
        if total[-1] < budget:
            return None, None
        minute = int(np.searchsorted(total, budget))
        weights = np.array([p[minute] for p in parts.values()], float)
        cause = list(parts)[int(self.rng.choice(len(parts), p=weights / weights.sum()))]
        return max(1, minute + 1), cause


def step_parts(model: int, speed: float, gpus: int, multi_node: bool) -> tuple[float, float, float]:
    """Healthy step time split (compute, data-loader wait, gradient sync) for a model on a SKU and GPU count."""
    _, compute, dataloader, sync, _ = MODELS[model]
    sync_s = 0.0 if gpus <= 1 else sync * (1.6 if multi_node else 1.0)
    return compute / speed, dataloader, sync_s


def step_multiplier(fx: Effects, nodes: np.ndarray, span: slice, comp: float, dl: float, sync: float) -> np.ndarray:
    """Step time over a span of minutes: the slowest worker's compute and input, plus the slowest link's sync."""
    sc, si, sn = (fx.get(k) for k in ("sc", "si", "sn"))
    width = span.stop - span.start
    worker = np.full((len(nodes), width), comp + dl, np.float64)
    if sc is not None or si is not None:
        worker = comp * (sc[nodes, span] if sc is not None else 1.0) + dl * (si[nodes, span] if si is not None else 1.0)
    sync_part = sync * (sn[nodes, span].max(axis=0) if sn is not None and sync else 1.0)
    out = worker.max(axis=0) + sync_part
    if len(out) < width:  # past the end of the horizon
        out = np.concatenate([out, np.full(width - len(out), out[-1] if len(out) else comp + dl + sync)])
    return out
