"""Job runtime metrics for one day: per worker and minute, steps done and where the step time went; and the step
log of distributed attempts, as a training loop writes it: a line per rank at the last step of each minute, with
the rank's own time per step since its previous line.

Distributed training is synchronous: every worker's step lasts as long as the slowest worker's compute and input
plus the all-reduce, so a throttled node shows as its own high compute time and as everyone else's sync wait.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from pipelines.contracts.sources import JOB_RUNTIME_METRICS, JOB_STEP_TIMES
from pipelines.simulate.context import SimContext
from pipelines.simulate.telemetry import _timestamps
from pipelines.simulate.workload import MODELS


class RuntimeWriter:
    """Keeps each attempt's step counter across days, so `step` keeps counting where yesterday stopped; the
    counters are kept by run-wide attempt number, only for attempts a later day can still read."""

    def __init__(self) -> None:
        self._steps: dict[int, float] = {}
        self._checkpoints: dict[int, float] = {}  # the counter at each attempt's latest checkpoint

    def day(self, ctx: SimContext, day: int) -> tuple[pa.Table, pa.Table]:
        """The runtime minutes and the step log. Attempt by attempt number, so a resumed attempt counts on from its
        predecessor's last checkpoint."""
        self.ctx = ctx
        self._load(ctx)
        first, last = ctx.day_minutes(day)
        sel = ctx.overlapping(first, last)
        sel = sel[ctx.a_paced[sel]]
        local = {g: i for i, g in enumerate(ctx.a_index.tolist())}
        tables = []
        for number in np.unique(ctx.a_attempt[sel]).tolist():
            batch = sel[ctx.a_attempt[sel] == number]
            resumed = batch[(ctx.a_start[batch] >= first) & (ctx.a_previous[batch] >= 0)]
            for i in resumed.tolist():
                previous = int(ctx.a_previous[i])
                here = local.get(previous)
                self.steps_done[i] = (
                    self.checkpoint_step[here] if here is not None else self._checkpoints.get(previous, 0.0)
                )
            self.checkpoint_step[resumed] = self.steps_done[resumed]  # until it writes a checkpoint of its own
            tables.append(self._rows(batch, first, last))
        self._store(ctx)
        if not tables:
            return JOB_RUNTIME_METRICS.arrow_schema().empty_table(), JOB_STEP_TIMES.arrow_schema().empty_table()
        return pa.concat_tables([t for t, _ in tables]), pa.concat_tables([s for _, s in tables])

    def _load(self, ctx: SimContext) -> None:
        """The day's counters: carried over, or (an attempt not seen yet) the steps its saved work stands for."""
        healthy = ctx.a_comp + ctx.a_dl + ctx.a_sync
        saved = np.array([a.saved for a in ctx.schedule.attempts], np.float64)
        fresh = np.where(healthy > 0, np.floor(saved * 60 / np.where(healthy > 0, healthy, 1)), 0.0)
        numbers = ctx.a_index.tolist()
        self.steps_done = np.array([self._steps.get(g, f) for g, f in zip(numbers, fresh.tolist(), strict=True)])
        self.checkpoint_step = np.array([self._checkpoints.get(g, 0.0) for g in numbers], np.float64)

    def _store(self, ctx: SimContext) -> None:
        numbers = ctx.a_index.tolist()
        self._steps.update(zip(numbers, self.steps_done.tolist(), strict=True))
        self._checkpoints.update(zip(numbers, self.checkpoint_step.tolist(), strict=True))

    def keep_only(self, attempts: set[int]) -> None:
        """Forget the counters of attempts no later day reads."""
        for counters in (self._steps, self._checkpoints):
            for number in [g for g in counters if g not in attempts]:
                del counters[number]

    def _rows(self, sel: np.ndarray, first: int, last: int) -> tuple[pa.Table, pa.Table]:
        ctx = self.ctx
        begin = np.maximum(ctx.a_start[sel], first)
        minutes = np.minimum(ctx.a_end[sel], last) - begin
        workers = ctx.a_n_nodes[sel]
        lengths = minutes * workers
        if lengths.sum() == 0:
            return JOB_RUNTIME_METRICS.arrow_schema().empty_table(), JOB_STEP_TIMES.arrow_schema().empty_table()
        att = np.repeat(sel, lengths)
        offset = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        w = np.repeat(workers, lengths)
        minute = np.repeat(begin, lengths) + offset // w
        worker = offset % w
        node = ctx.a_nodes_flat[ctx.a_node_off[att] + worker]
        comp, dl, sync_wait, step, ckpt_s, steps = self._step_times(att, node, minute, worker)
        counter = self._step_counter(att, worker, steps)
        step_no = np.floor(counter)
        at_checkpoint = ckpt_s > 0
        np.maximum.at(self.checkpoint_step, att[at_checkpoint], step_no[at_checkpoint])
        job = ctx.a_job[att]
        per_step = np.array([m[4] for m in MODELS])[np.maximum(ctx.jobs.model[job], 0)]
        samples = steps * per_step * (ctx.a_gpu_off[att + 1] - ctx.a_gpu_off[att]) / w
        missing = np.isnan(step)
        table = {
            "ts": _timestamps(ctx, minute),
            "job_id": ctx.job_ids[job],
            "attempt": ctx.a_attempt[att].astype(np.int32),
            "worker": worker.astype(np.int32),
            "node_id": ctx.fleet.node_ids[node],
            "step": step_no.astype(np.int64),
            "steps": steps.round(3),
            "step_time_s": pa.array(step.round(4), mask=missing),
            "compute_s": pa.array(comp.round(4), mask=missing),
            "dataloader_wait_s": pa.array(dl.round(4), mask=missing),
            "grad_sync_s": pa.array(sync_wait.round(4), mask=missing),
            "checkpoint_s": ckpt_s.round(2),
            "samples": samples.round(1),
            "framework_version": ctx.framework_of[job],
        }
        runtime = pa.table(table, schema=JOB_RUNTIME_METRICS.arrow_schema())
        # the step log: ranks of distributed attempts, one line per minute that completed a step
        covers = step_no - np.floor(counter - steps)
        logged = (w > 1) & (covers >= 1) & ~missing
        lines = {
            "ts": _timestamps(ctx, minute[logged]) + np.timedelta64(59, "s"),
            "ts_logged": np.ones(logged.sum(), dtype=bool),
            "job_id": table["job_id"][logged],
            "attempt": table["attempt"][logged],
            "worker": table["worker"][logged],
            "node_id": table["node_id"][logged],
            "step": table["step"][logged],
            "covers": covers[logged].astype(np.int64),
            "step_time_s": (comp + dl)[logged].round(4),
        }
        return runtime, pa.table(lines, schema=JOB_STEP_TIMES.arrow_schema())

    def _step_times(self, att, node, minute, worker):
        ctx, fx = self.ctx, self.ctx.fx
        sc, si, sn = (fx.get(k)[node, minute] if fx.get(k) is not None else 1.0 for k in ("sc", "si", "sn"))
        comp = ctx.a_comp[att] * ctx.a_fw[att] * sc
        dl = ctx.a_dl[att] * si
        starts = np.flatnonzero(worker == 0)
        block = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, len(att))))
        slowest = np.maximum.reduceat(comp + dl, starts)[block]
        sync = ctx.a_sync[att] * np.maximum.reduceat(np.broadcast_to(sn, att.shape).astype(float), starts)[block]
        step = slowest + sync
        since = minute - ctx.a_start[att]
        ckpt_every = ctx.jobs.ckpt_min[ctx.a_job[att]]
        overhead = ctx.a_overhead[att]
        in_ckpt = (ckpt_every > 0) & (since >= overhead)
        in_ckpt &= (since - overhead) % np.maximum(ckpt_every, 1) == np.maximum(ckpt_every, 1) - 1
        ckpt_s = np.where(in_ckpt, ctx.checkpoint_s(att, si), 0.0)
        restarting = since < overhead
        steps = np.where(restarting, 0.0, (60 - ckpt_s) / step)
        step = np.where(restarting, np.nan, step)
        return comp, dl, step - comp - dl, step, ckpt_s, steps

    def _step_counter(self, att, worker, steps):
        """Cumulative (fractional) step per attempt, carried over from earlier days; all workers of a step share it."""
        lead = worker == 0
        lead_att, lead_steps = att[lead], steps[lead]
        running = np.cumsum(lead_steps)
        first_of_att = np.r_[True, lead_att[1:] != lead_att[:-1]]
        base = np.repeat(
            running[first_of_att] - lead_steps[first_of_att],
            np.diff(np.append(np.flatnonzero(first_of_att), len(lead_att))),
        )
        counter = self.steps_done[lead_att] + np.round(running - base, 6)  # a long cumsum leaves 1e-9 errors
        last_of_att = np.r_[lead_att[1:] != lead_att[:-1], True]
        self.steps_done[lead_att[last_of_att]] = counter[last_of_att]
        block = np.cumsum(lead) - 1
        return counter[block]
