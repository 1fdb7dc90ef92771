"""The slow-moving sources for one day: scheduler events, job metadata, cost and capacity, changes, maintenance."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pyarrow as pa

from pipelines.contracts.sources import (
    CHANGE_EVENTS,
    COST_CAPACITY,
    JOB_METADATA,
    MAINTENANCE_WINDOWS,
    SCHEDULER_EVENTS,
)
from pipelines.simulate.attempts import STATES
from pipelines.simulate.context import SimContext
from pipelines.simulate.fleet import sku_profiles
from pipelines.simulate.workload import CLASSES, DATASETS, MODELS, TEAMS

QUEUES = {"interactive": "interactive", "batch": "batch", "distributed": "train-multinode", "retrain": "pipelines"}
RESERVED_SHARE = 0.8
ANNOUNCE_LEAD = timedelta(days=3)


class RecordWriter:
    """Writes one day's events and jobs in a stable order; what happened before the scenario start but still
    matters (jobs running or waiting at the start, their history) is written with the first day."""

    def __init__(self, ctx: SimContext):
        self.ctx = ctx
        events = ctx.schedule.events
        time_s, job = events.column("time_s"), events.column("job")
        self.order = np.lexsort((events.column("attempt"), job, time_s))  # what is written, in which order
        self.ev_time = time_s[self.order]
        self.ev_job = job[self.order]
        self.alive = ctx.alive

    def _day_window(self, day: int) -> tuple[int, int]:
        first, last = self.ctx.day_minutes(day)
        return (0 if day == 0 else first * 60), last * 60

    def scheduler_events(self, day: int) -> pa.Table:
        ctx = self.ctx
        jobs = ctx.jobs
        lo, hi = self._day_window(day)
        idx = np.flatnonzero((self.ev_time >= lo) & (self.ev_time < hi) & self.alive[self.ev_job])
        rows = {name: [] for name in SCHEDULER_EVENTS.column_names}
        for i in idx.tolist():
            t, job, attempt, kind, gpus, a, reason = ctx.schedule.events[int(self.order[i])]
            cls = CLASSES[jobs.cls[job]]
            placed = a >= 0 and kind in ("started", "ended")
            att = ctx.schedule.attempts[a] if placed else None
            rows["event_at"].append(ctx.origin + timedelta(seconds=t))
            rows["job_id"].append(ctx.job_ids[job])
            rows["attempt"].append(attempt)
            rows["event_type"].append(kind)
            rows["queue"].append(QUEUES[cls])
            rows["priority"].append(int(ctx.fx.priority(jobs.priority[job], t // 60, jobs.cls[job], jobs.team[job])))
            rows["gpus"].append(float(gpus))
            rows["node_ids"].append(",".join(ctx.fleet.node_ids[att.nodes]) if att else None)
            rows["gpu_ids"].append(",".join(ctx.fleet.gpu_ids[att.gpus]) if att else None)
            rows["state"].append(STATES[att.state] if att and kind == "ended" else None)
            rows["exit_code"].append(att.exit_code if att and kind == "ended" else None)
            rows["reason"].append(reason if kind != "started" else None)
        return pa.table(rows, schema=SCHEDULER_EVENTS.arrow_schema())

    def job_metadata(self, day: int) -> pa.Table:
        ctx = self.ctx
        jobs = ctx.jobs
        lo, hi = self._day_window(day)
        idx = np.flatnonzero((jobs.submit_s >= lo) & (jobs.submit_s < hi) & self.alive)
        rng = np.random.default_rng([ctx.seed, 7, day])
        skus = ctx.fleet.skus
        model = jobs.model[idx]
        gpus = jobs.gpus[idx].astype(float)
        team = np.array(TEAMS)[jobs.team[idx]]
        framework = ctx.framework_of[idx]
        names = np.array([m[0] for m in MODELS] + [None], dtype=object)[np.where(model >= 0, model, len(MODELS))]
        table = {
            "job_id": ctx.job_ids[idx],
            "submitted_at": [ctx.origin + timedelta(seconds=int(s)) for s in jobs.submit_s[idx]],
            "team": team,
            "user_name": [f"{t}-u{int(u):02d}" for t, u in zip(team, rng.integers(0, 12, len(idx)), strict=True)],
            "region": np.array(ctx.fleet.regions, dtype=object)[jobs.region[idx]],
            "workload_class": np.array(CLASSES)[jobs.cls[idx]],
            "model_type": names,
            "dataset": [DATASETS[n[:3]] if n else None for n in names],
            "requested_gpus": gpus,
            "requested_sku": [skus[s] if s >= 0 else None for s in jobs.sku_req[idx]],
            "requested_gpu_mem_gib": np.round(80 * rng.uniform(0.5, 1.0, len(idx)), 1),
            "requested_cpus": (np.maximum(gpus, 1) * 12).astype(np.int32),
            "requested_mem_gib": np.maximum(gpus, 1) * 120.0,
            "image": [f"registry.local/{t}/train:{f}" for t, f in zip(team, framework, strict=True)],
            "framework_version": framework,
            "priority": jobs.priority[idx].astype(np.int32),
            "queue": [QUEUES[CLASSES[c]] for c in jobs.cls[idx]],
            "deadline_at": [ctx.origin + timedelta(seconds=int(d)) if d >= 0 else None for d in jobs.deadline_s[idx]],
            "reports_steps": jobs.reports_steps[idx],
        }
        return pa.table(table, schema=JOB_METADATA.arrow_schema())

    def cost_capacity(self, day: int) -> pa.Table:
        fleet = self.ctx.fleet
        profiles = sku_profiles()
        rows = {name: [] for name in COST_CAPACITY.column_names}
        for r, region in enumerate(fleet.regions):
            for s, sku in enumerate(fleet.skus):
                total = int(fleet.node_gpus[(fleet.node_region == r) & (fleet.node_sku == s)].sum())
                if not total:
                    continue
                reserved = int(round(total * RESERVED_SHARE))
                price_r = float(profiles[sku]["reserved_usd_per_gpu_h"])
                price_o = float(profiles[sku]["on_demand_usd_per_gpu_h"])
                for key, value in (
                    ("cost_date", self.ctx.day_date(day)),
                    ("region", region),
                    ("sku", sku),
                    ("gpus_total", total),
                    ("gpus_reserved", reserved),
                    ("gpus_on_demand", total - reserved),
                    ("reserved_usd_per_gpu_h", price_r),
                    ("on_demand_usd_per_gpu_h", price_o),
                    ("cost_usd", round(24 * (reserved * price_r + (total - reserved) * price_o), 2)),
                ):
                    rows[key].append(value)
        return pa.table(rows, schema=COST_CAPACITY.arrow_schema())

    def change_events(self, day: int) -> pa.Table:
        ctx = self.ctx
        lo, hi = self._day_window(day)
        origin = ctx.origin
        rows = [r for r in ctx.changes.rows if lo <= (r["changed_at"] - origin).total_seconds() < hi]
        rows.sort(key=lambda r: (r["changed_at"], r["change_id"]))
        return pa.Table.from_pylist(rows, schema=CHANGE_EVENTS.arrow_schema())

    def maintenance_windows(self, truth: list[dict]) -> pa.Table:
        windows = [t for t in truth if t["kind"] == "maintenance"]
        rows = [
            {
                "window_id": t["incident_id"],
                "start_at": t["start_at"],
                "end_at": t["end_at"],
                "scope_region": t["scope"]["region"],
                "scope_node_ids": ",".join(t["scope"]["nodes"]),
                "reason": "planned maintenance: firmware and cabling",
                "announced_at": t["start_at"] - ANNOUNCE_LEAD,
            }
            for t in windows
        ]
        return pa.Table.from_pylist(rows, schema=MAINTENANCE_WINDOWS.arrow_schema())
