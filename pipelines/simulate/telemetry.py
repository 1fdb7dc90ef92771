"""GPU, node and network telemetry for one simulated day, drawn from what runs where and what went wrong.

Work shows only where a job runs; a data-loader stall lowers utilisation, throttling lowers clocks and raises
temperature, a busy loop keeps SMs busy with no tensor work, and a telemetry gap drops rows (it never reads as idle).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from pipelines.contracts.sources import GPU_TELEMETRY, NETWORK_TELEMETRY, NODE_TELEMETRY
from pipelines.simulate.attempts import FAILED, NODE_FAIL
from pipelines.simulate.changes import BASE_DRIVER, BASE_KERNEL
from pipelines.simulate.context import SimContext
from pipelines.simulate.incidents import BAD_DRIVER, UNCORRECTABLE_PER_GPU_MIN
from pipelines.simulate.workload import INTERACTIVE, MODELS

MINUTES = 1440
LINKS = ("mlx5_0", "mlx5_1")
THROTTLE_IDLE, THROTTLE_SW_THERMAL, THROTTLE_HW_THERMAL = 0x1, 0x20, 0x40
# per model: (share of SM busy time, share of tensor-pipe time, framebuffer share used)
MODEL_PROFILE = {
    "llm-70b": (0.82, 0.55, 0.93),
    "llm-7b": (0.80, 0.50, 0.85),
    "vit-large": (0.75, 0.40, 0.70),
    "resnet50": (0.70, 0.30, 0.45),
    "bert-base": (0.72, 0.35, 0.40),
    "dlrm": (0.55, 0.20, 0.60),
    "whisper-medium": (0.74, 0.38, 0.55),
    "diffusion-xl": (0.78, 0.45, 0.75),
}


@dataclass
class DayCells:
    """Per GPU-minute picture of one day: which attempt runs and how hard the GPU works."""

    alloc: np.ndarray  # (gpus, minutes) attempt index, -1 when free
    busy: np.ndarray  # share of the minute the GPU computes, 0..1
    sm_share: np.ndarray
    tensor_share: np.ndarray
    mem_share: np.ndarray


def allocation(ctx: SimContext, first: int, last: int) -> np.ndarray:
    alloc = np.full((ctx.fleet.n_gpus, last - first), -1, np.int32)
    for a in ctx.overlapping(first, last).tolist():
        gpus = ctx.a_gpus_flat[ctx.a_gpu_off[a] : ctx.a_gpu_off[a + 1]]
        alloc[gpus, max(ctx.a_start[a], first) - first : min(ctx.a_end[a], last) - first] = a
    return alloc


def day_cells(ctx: SimContext, alloc: np.ndarray, first: int, last: int, rng: np.random.Generator) -> DayCells:
    fleet, jobs, fx = ctx.fleet, ctx.jobs, ctx.fx
    running = alloc >= 0
    a = np.where(running, alloc, 0)
    job = ctx.a_job[a] if len(ctx.a_job) else np.zeros_like(a)
    minute = np.arange(first, last)[None, :]
    since = minute - ctx.a_start[a] if len(ctx.a_start) else np.zeros_like(a)
    span = slice(first, last)
    sc = fx.get("sc")[:, span][fleet.gpu_node] if fx.get("sc") is not None else 1.0
    si = fx.get("si")[:, span][fleet.gpu_node] if fx.get("si") is not None else 1.0
    sn = fx.get("sn")[:, span][fleet.gpu_node] if fx.get("sn") is not None else 1.0
    comp = ctx.a_comp[a] * ctx.a_fw[a] * sc
    step = comp + ctx.a_dl[a] * si + ctx.a_sync[a] * sn
    busy = np.divide(comp, step, out=np.zeros(alloc.shape), where=step > 0)
    overhead = since < ctx.a_overhead[a]
    ckpt = ctx.jobs.ckpt_min[job]
    in_ckpt = (ckpt > 0) & ((since - ctx.a_overhead[a]) % np.maximum(ckpt, 1) == np.maximum(ckpt, 1) - 1)
    busy = np.where(in_ckpt, busy * (60 - ctx.checkpoint_s(a, si)) / 60, busy)
    busy = np.where(overhead, 0.05, busy)
    model = jobs.model[job]
    profile = np.array([MODEL_PROFILE[m[0]] for m in MODELS] + [(0.6, 0.1, 0.3)])
    prof = profile[np.where(model >= 0, model, len(MODELS))]
    sm_share, tensor_share, mem_share = prof[..., 0], prof[..., 1], prof[..., 2]
    interactive = jobs.cls[job] == INTERACTIVE
    active = rng.random(alloc.shape) < jobs.activity[job]
    busy = np.where(interactive, np.where(active, rng.uniform(0.3, 0.95, alloc.shape), 0.0), busy)
    mem_share = np.where(interactive, 0.35, mem_share)
    dummy = jobs.is_dummy[job]
    busy = np.where(dummy, 1.0, busy)
    sm_share = np.where(dummy, 0.95, sm_share)
    tensor_share = np.where(dummy, 0.01, tensor_share)
    mem_share = np.where(dummy, 0.1, mem_share)
    return DayCells(alloc, np.where(running, busy, 0.0), sm_share, tensor_share, np.where(running, mem_share, 0.0))


def gpu_day(ctx: SimContext, day: int, alloc: np.ndarray, rng: np.random.Generator) -> pa.Table:
    fleet, fx = ctx.fleet, ctx.fx
    first, last = ctx.day_minutes(day)
    cells = day_cells(ctx, alloc, first, last, rng)
    shape = cells.alloc.shape
    sku = fleet.node_sku[fleet.gpu_node]
    prof = {
        k: fleet.sku_array(k)[sku][:, None]
        for k in ("idle_w", "load_w", "tdp_w", "idle_temp_c", "load_temp_c", "max_sm_clock_mhz", "mem_mib")
    }
    span = slice(first, last)
    throttle = fx.get("throttle")[:, span][fleet.gpu_node] if fx.get("throttle") is not None else np.zeros(shape)
    ecc = fx.get("ecc")[:, span][fleet.gpu_node] if fx.get("ecc") is not None else np.zeros(shape)
    noise = rng.normal(0, 1, shape)
    busy = cells.busy
    util = np.clip(np.where(busy > 0, 100 * np.minimum(1, busy * 1.15) + 2 * noise, 0), 0, 100)
    sm = np.clip(100 * busy * cells.sm_share + 1.5 * noise, 0, 100)
    tensor = np.clip(100 * busy * cells.tensor_share + noise, 0, 100)
    dram = np.clip(100 * busy * 0.4 + noise, 0, 100)
    load = 0.3 * util / 100 + 0.7 * sm / 100
    power = prof["idle_w"] + (prof["load_w"] - prof["idle_w"]) * load * (1 - 0.25 * np.minimum(throttle, 1))
    power = np.clip(power * (1 + 0.02 * noise), 0, None)
    temp = prof["idle_temp_c"] + (prof["load_temp_c"] - prof["idle_temp_c"]) * load + 18 * throttle
    temp = temp + rng.normal(0, 1.2, shape)
    clock = prof["max_sm_clock_mhz"] * np.where(busy > 0, 0.97, 0.2) * (1 - 0.3 * np.minimum(throttle, 1.5))
    reasons = np.where(busy > 0, 0, THROTTLE_IDLE) | np.where(
        throttle > 0, THROTTLE_SW_THERMAL | THROTTLE_HW_THERMAL, 0
    )
    ecc_corr = rng.poisson(0.0002 + 2.0 * ecc)
    ecc_unc = np.where(_before_trip(ctx, first, last), 0, rng.poisson(UNCORRECTABLE_PER_GPU_MIN * ecc))
    for node, minute in fx.ecc_trips:  # the first uncorrectable error: the one the node agent drained the node for
        if first <= minute < last:
            ecc_unc[int(fleet.node_first_gpu[node]), minute - first] += 1
    xid = np.where(ecc_unc > 0, 48, 0)
    xid = _failure_xids(ctx, first, last, xid)
    driver = ctx.changes.node_versions(ctx.changes.driver, BASE_DRIVER, first, last - first)[fleet.gpu_node]
    xid = np.where((driver == BAD_DRIVER) & (busy > 0) & (rng.random(shape) < 0.002), 13, xid)
    mem = (prof["mem_mib"] * cells.mem_share + np.where(cells.alloc >= 0, 600, 0)).astype(np.int64)
    keep = _present(ctx, first, last)[fleet.gpu_node].ravel()
    minutes = np.arange(first, last)
    table = {
        "ts": np.tile(_timestamps(ctx, minutes), fleet.n_gpus),
        "gpu_id": repeated_strings(fleet.gpu_ids, np.repeat(np.arange(fleet.n_gpus), shape[1])),
        "node_id": repeated_strings(fleet.node_ids, np.repeat(fleet.gpu_node, shape[1])),
        "gpu_util_pct": util.round(1).ravel(),
        "sm_active_pct": sm.round(1).ravel(),
        "tensor_active_pct": tensor.round(1).ravel(),
        "dram_active_pct": dram.round(1).ravel(),
        "mem_used_mib": mem.ravel(),
        "power_w": power.round(1).ravel(),
        "temp_c": temp.round(1).ravel(),
        "sm_clock_mhz": clock.round(0).ravel(),
        "ecc_corrected_count": ecc_corr.astype(np.int64).ravel(),
        "ecc_uncorrected_count": ecc_unc.astype(np.int64).ravel(),
        "xid": np.where(xid > 0, xid, 0).astype(np.int32).ravel(),
        "throttle_reasons": reasons.astype(np.int64).ravel(),
    }
    out = make_table(table, keep, GPU_TELEMETRY.arrow_schema())
    xid_col = pa.compute.if_else(pa.compute.equal(out["xid"], 0), pa.scalar(None, pa.int32()), out["xid"])
    return out.set_column(out.schema.get_field_index("xid"), GPU_TELEMETRY.column("xid").name, xid_col)


def _failure_xids(ctx: SimContext, first: int, last: int, xid: np.ndarray) -> np.ndarray:
    """The GPUs of an attempt that died of a hardware or driver fault log its XID in the last minute."""
    ends = np.flatnonzero((ctx.a_end > first) & (ctx.a_end <= last) & np.isin(ctx.a_state, (FAILED, NODE_FAIL)))
    for a in ends.tolist():
        reason = ctx.schedule.attempts[a].reason or ""
        if reason.startswith("Xid "):
            gpus = ctx.a_gpus_flat[ctx.a_gpu_off[a] : ctx.a_gpu_off[a + 1]]
            xid[gpus, ctx.a_end[a] - 1 - first] = int(reason[4:].split(":")[0])
    return xid


def repeated_strings(values: np.ndarray, index: np.ndarray) -> pa.Array:
    """values[index] as an Arrow string column, built through a dictionary (fast for a few distinct values)."""
    return pa.DictionaryArray.from_arrays(pa.array(index, pa.int32()), pa.array(values, pa.string())).cast(pa.string())


def make_table(columns: dict, keep: np.ndarray, schema: pa.Schema) -> pa.Table:
    """A contract table from flat columns, dropping rows where telemetry is missing (a gap, not zeros)."""
    table = pa.table(
        {k: v if isinstance(v, pa.Array) else np.asarray(v).ravel() for k, v in columns.items()}, schema=schema
    )
    return table if keep.all() else table.filter(pa.array(keep))


def _present(ctx: SimContext, first: int, last: int) -> np.ndarray:
    gap = ctx.fx.get("gap")
    return np.ones((ctx.fleet.n_nodes, last - first), bool) if gap is None else ~gap[:, first:last]


def _timestamps(ctx: SimContext, minutes: np.ndarray) -> np.ndarray:
    base = np.datetime64(ctx.origin, "us")
    return base + minutes.astype("timedelta64[m]").astype("timedelta64[us]")


def _before_trip(ctx: SimContext, first: int, last: int) -> np.ndarray:
    """Per GPU and minute: before its node's first uncorrectable ECC error (drawn with the incident, since the
    scheduler drains the node at it), when the storm may only show correctable ones."""
    trip_at = np.full(ctx.fleet.n_nodes, np.iinfo(np.int64).max)
    for node, minute in ctx.fx.ecc_trips:
        trip_at[node] = minute
    return np.arange(first, last)[None, :] < trip_at[ctx.fleet.gpu_node][:, None]


def node_day(ctx: SimContext, day: int, alloc: np.ndarray, rng: np.random.Generator) -> pa.Table:
    fleet, fx = ctx.fleet, ctx.fx
    first, last = ctx.day_minutes(day)
    span = slice(first, last)
    busy_share = _per_node_mean(ctx, alloc >= 0)
    shape = busy_share.shape
    noise = rng.normal(0, 1, shape)
    storage = fx.get("storage")[:, span] if fx.get("storage") is not None else np.ones(shape)
    maint = fx.get("maint")[:, span] if fx.get("maint") is not None else np.zeros(shape, bool)
    hw = np.zeros(shape, bool)
    for name in ("ecc", "throttle"):
        if fx.get(name) is not None:
            hw |= fx.get(name)[:, span] > 0
    drained = fx.get("ecc_drain")[:, span] if fx.get("ecc_drain") is not None else np.zeros(shape, bool)
    health = np.where(maint, "maintenance", np.where(drained, "down", np.where(hw, "degraded", "ok")))
    table = {
        "ts": np.tile(_timestamps(ctx, np.arange(first, last)), fleet.n_nodes),
        "node_id": repeated_strings(fleet.node_ids, np.repeat(np.arange(fleet.n_nodes), shape[1])),
        "cpu_util_pct": np.clip(4 + 58 * busy_share + 3 * noise, 0, 100).round(1),
        "mem_used_gib": np.clip(38 + 900 * busy_share + 10 * noise, 0, None).round(1),
        "disk_read_mb_s": np.clip((60 + 1800 * busy_share) / np.sqrt(storage) + 20 * noise, 0, None).round(1),
        "disk_write_mb_s": np.clip(25 + 400 * busy_share + 10 * noise, 0, None).round(1),
        "nvme_used_pct": np.clip(35 + 30 * busy_share + 0.5 * noise, 0, 100).round(1),
        "storage_latency_p99_ms": (2.4 * storage * rng.lognormal(0, 0.15, shape)).round(2),
        "kernel_version": ctx.changes.node_versions(ctx.changes.kernel, BASE_KERNEL, first, last - first),
        "driver_version": ctx.changes.node_versions(ctx.changes.driver, BASE_DRIVER, first, last - first),
        "health": health,
    }
    return make_table(table, _present(ctx, first, last).ravel(), NODE_TELEMETRY.arrow_schema())


def _per_node_mean(ctx: SimContext, per_gpu: np.ndarray) -> np.ndarray:
    sums = np.zeros((ctx.fleet.n_nodes, per_gpu.shape[1]))
    np.add.at(sums, ctx.fleet.gpu_node, per_gpu)
    return sums / ctx.fleet.node_gpus[:, None]


def network_day(ctx: SimContext, day: int, alloc: np.ndarray, rng: np.random.Generator) -> pa.Table:
    fleet, fx = ctx.fleet, ctx.fx
    first, last = ctx.day_minutes(day)
    span = slice(first, last)
    multi = np.zeros(len(ctx.a_job) + 1, bool)
    multi[:-1] = ctx.a_n_nodes > 1
    gang_share = _per_node_mean(ctx, multi[np.where(alloc >= 0, alloc, -1)])
    busy_share = _per_node_mean(ctx, alloc >= 0)
    err = fx.get("neterr")[:, span] if fx.get("neterr") is not None else np.ones(busy_share.shape)
    sn = fx.get("sn")[:, span] if fx.get("sn") is not None else np.ones(busy_share.shape)
    n_links = len(LINKS)
    shape = (fleet.n_nodes, n_links, last - first)
    traffic = (150 * gang_share / sn + 12 * busy_share)[:, None, :] * rng.uniform(0.85, 1.15, shape)
    err3 = np.broadcast_to(err[:, None, :], shape)
    table = {
        "ts": np.tile(_timestamps(ctx, np.arange(first, last)), fleet.n_nodes * n_links),
        "node_id": repeated_strings(fleet.node_ids, np.repeat(np.arange(fleet.n_nodes), n_links * (last - first))),
        "link_id": repeated_strings(
            np.array(LINKS), np.tile(np.repeat(np.arange(n_links), last - first), fleet.n_nodes)
        ),
        "rx_gbit_s": traffic.round(2),
        "tx_gbit_s": (traffic * rng.uniform(0.95, 1.05, shape)).round(2),
        "packet_loss_pct": (0.00005 * err3 * rng.uniform(0.5, 1.5, shape)).round(6),
        "retransmits_count": rng.poisson(0.3 * err3 * (0.2 + traffic / 100)).astype(np.int64),
        "latency_us": (2.2 * (1 + 0.15 * (err3 - 1)) * rng.lognormal(0, 0.1, shape)).round(2),
        "ecn_marks_count": rng.poisson(4 * err3 * (0.1 + traffic / 50)).astype(np.int64),
        "pfc_pause_count": rng.poisson(0.5 * err3).astype(np.int64),
    }
    keep = np.broadcast_to(_present(ctx, first, last)[:, None, :], shape).ravel()
    return make_table(table, keep, NETWORK_TELEMETRY.arrow_schema())
