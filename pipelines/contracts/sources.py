"""The source contracts: the one place that says what each landing source holds.

Timestamps are UTC without a zone (`TIMESTAMP`), minute-aligned for telemetry. Units are in the column names where
they are not obvious. Bounds are physical limits (what no real device reports), not health thresholds: those are
per SKU and live with detection.
"""

from __future__ import annotations

from pipelines.contracts.schema import Column, Reference, Source

WORKLOAD_CLASSES = ("interactive", "batch", "distributed", "retrain")
EVENT_TYPES = ("submitted", "pending", "started", "ended", "requeued")
END_STATES = ("completed", "failed", "cancelled", "preempted", "node_fail", "timeout")
CHANGE_TYPES = (
    "driver_upgrade",
    "firmware_upgrade",
    "kernel_upgrade",
    "framework_image",
    "config_change",
    "scheduler_policy",
    "storage_rollout",
    "network_change",
    "rollback",
)
NODE_HEALTH = ("ok", "degraded", "maintenance", "down")


def _ts(name: str, description: str, nullable: bool = False) -> Column:
    return Column(name, "TIMESTAMP", description, unit="UTC", nullable=nullable)


def _pct(name: str, description: str, nullable: bool = False) -> Column:
    return Column(name, "DOUBLE", description, unit="%", nullable=nullable, min=0, max=100)


def _count(name: str, description: str, nullable: bool = False) -> Column:
    return Column(name, "BIGINT", description, unit="count", nullable=nullable, min=0)


def _text(name: str, description: str, nullable: bool = False, allowed: tuple[str, ...] | None = None) -> Column:
    return Column(name, "VARCHAR", description, nullable=nullable, allowed=allowed)


INVENTORY = Source(
    name="inventory",
    grain="one row per GPU per daily snapshot",
    key=("gpu_id", "snapshot_date"),
    time_column=None,
    columns=(
        _text("gpu_id", "stable GPU id, <node_id>-g<index>"),
        Column("snapshot_date", "DATE", "day the inventory was read"),
        _text("gpu_uuid", "vendor UUID of the GPU", nullable=True),
        Column("gpu_index", "INTEGER", "index of the GPU in its node", min=0, max=63),
        _text("node_id", "host name of the node"),
        _text("rack_id", "rack the node sits in", nullable=True),
        _text("region", "region (data centre) of the node"),
        _text("sku", "GPU model, e.g. H100-SXM-80GB"),
        Column("gpu_mem_mib", "BIGINT", "framebuffer size", unit="MiB", min=1),
        Column("tdp_w", "DOUBLE", "rated board power", unit="W", min=1, max=2000),
    ),
)

GPU_TELEMETRY = Source(
    name="gpu_telemetry",
    grain="one row per GPU per minute",
    key=("gpu_id", "ts"),
    time_column="ts",
    references=(Reference("gpu_id", "inventory", "gpu_id"),),
    columns=(
        _ts("ts", "start of the minute"),
        _text("gpu_id", "GPU id, as in inventory"),
        _text("node_id", "node of the GPU"),
        _pct("gpu_util_pct", "share of time a kernel ran (DCGM_FI_DEV_GPU_UTIL, coarse)"),
        _pct("sm_active_pct", "share of SM cycles active (DCGM_FI_PROF_SM_ACTIVE)", nullable=True),
        _pct("tensor_active_pct", "share of tensor-pipe cycles active (DCGM_FI_PROF_PIPE_TENSOR_ACTIVE)", True),
        _pct("dram_active_pct", "share of memory-interface cycles active (DCGM_FI_PROF_DRAM_ACTIVE)", True),
        Column("mem_used_mib", "BIGINT", "framebuffer used", unit="MiB", min=0, max=1_000_000),
        Column("power_w", "DOUBLE", "board power draw, minute mean", unit="W", min=0, max=2000),
        Column("temp_c", "DOUBLE", "GPU core temperature, minute max", unit="degC", min=-20, max=130),
        Column("sm_clock_mhz", "DOUBLE", "SM clock, minute mean", unit="MHz", nullable=True, min=0, max=5000),
        # ECC and throttle fields are off in dcgm-exporter's default counters: null means not reported, not zero
        _count("ecc_corrected_count", "correctable (single-bit) ECC errors in the minute", nullable=True),
        _count("ecc_uncorrected_count", "uncorrectable (double-bit) ECC errors in the minute", nullable=True),
        Column("xid", "INTEGER", "last XID error code seen in the minute, null if none", nullable=True, min=0),
        Column("throttle_reasons", "BIGINT", "NVML clock-throttle reason bitmask", "bitmask", nullable=True, min=0),
    ),
)

NODE_TELEMETRY = Source(
    name="node_telemetry",
    grain="one row per node per minute",
    key=("node_id", "ts"),
    time_column="ts",
    columns=(
        _ts("ts", "start of the minute"),
        _text("node_id", "host name"),
        _pct("cpu_util_pct", "CPU busy share across cores"),
        Column("mem_used_gib", "DOUBLE", "host RAM used", unit="GiB", min=0, max=65536),
        Column("disk_read_mb_s", "DOUBLE", "local disk read rate", unit="MB/s", min=0),
        Column("disk_write_mb_s", "DOUBLE", "local disk write rate", unit="MB/s", min=0),
        _pct("nvme_used_pct", "local NVMe scratch space used", nullable=True),
        Column("storage_latency_p99_ms", "DOUBLE", "shared-storage client read latency p99", "ms", True, 0),
        _text("kernel_version", "running kernel", nullable=True),
        _text("driver_version", "loaded NVIDIA driver", nullable=True),
        _text("health", "node health as the node agent reports it", allowed=NODE_HEALTH),
    ),
)

NETWORK_TELEMETRY = Source(
    name="network_telemetry",
    grain="one row per network link (RDMA/IB port) per minute",
    key=("node_id", "link_id", "ts"),
    time_column="ts",
    columns=(
        _ts("ts", "start of the minute"),
        _text("node_id", "host name"),
        _text("link_id", "port name, e.g. mlx5_0"),
        Column("rx_gbit_s", "DOUBLE", "receive throughput", unit="Gbit/s", min=0, max=3200),
        Column("tx_gbit_s", "DOUBLE", "transmit throughput", unit="Gbit/s", min=0, max=3200),
        _pct("packet_loss_pct", "packets dropped", nullable=True),
        _count("retransmits_count", "transport retransmissions in the minute (null: the exporter has none)", True),
        Column("latency_us", "DOUBLE", "RDMA round-trip latency, minute p50", "us", nullable=True, min=0),
        _count("ecn_marks_count", "ECN congestion marks in the minute", nullable=True),
        _count("pfc_pause_count", "PFC pause frames in the minute", nullable=True),
    ),
)

SCHEDULER_EVENTS = Source(
    name="scheduler_events",
    grain="one row per job lifecycle event (submitted, pending, started, ended, requeued) per attempt",
    key=("job_id", "attempt", "event_type"),
    time_column="event_at",
    columns=(
        _ts("event_at", "when the event happened"),
        _text("job_id", "scheduler job id"),
        Column("attempt", "INTEGER", "0 for the first run, +1 per requeue", min=0),
        _text("event_type", "lifecycle event", allowed=EVENT_TYPES),
        _text("queue", "partition or queue", nullable=True),
        Column("priority", "INTEGER", "scheduler priority at the event", nullable=True),
        Column("gpus", "DOUBLE", "GPUs requested (fractions for MIG or shared GPUs)", "GPU", True, 0, 4096),
        _text("node_ids", "comma-separated nodes placed on (started, ended)", nullable=True),
        _text("gpu_ids", "comma-separated GPU ids placed on (started, ended)", nullable=True),
        _text("state", "end state (ended events)", nullable=True, allowed=END_STATES),
        Column("exit_code", "INTEGER", "process exit code (ended events)", nullable=True),
        _text("reason", "end reason or pending reason as the scheduler reports it", nullable=True),
    ),
)

JOB_RUNTIME_METRICS = Source(
    name="job_runtime_metrics",
    grain="one row per job attempt per worker per minute (jobs that report training steps)",
    key=("job_id", "attempt", "worker", "ts"),
    time_column="ts",
    columns=(
        _ts("ts", "start of the minute"),
        _text("job_id", "scheduler job id"),
        Column("attempt", "INTEGER", "attempt the worker belongs to", min=0),
        Column("worker", "INTEGER", "worker rank (one per node for distributed jobs)", min=0),
        _text("node_id", "node the worker runs on", nullable=True),
        Column("step", "BIGINT", "last step completed by the end of the minute", nullable=True, min=0),
        Column("steps", "DOUBLE", "training steps completed in the minute", unit="steps", min=0),
        Column("step_time_s", "DOUBLE", "mean wall time of a step", "s", nullable=True, min=0),
        Column("compute_s", "DOUBLE", "mean time per step in forward/backward compute", "s", True, 0),
        Column("dataloader_wait_s", "DOUBLE", "mean time per step waiting for input data", "s", True, 0),
        Column("grad_sync_s", "DOUBLE", "mean time per step in gradient all-reduce", "s", True, 0),
        Column("checkpoint_s", "DOUBLE", "seconds of the minute spent writing a checkpoint", "s", True, 0, 60),
        Column("samples", "DOUBLE", "training samples processed in the minute", "samples", True, 0),
        _text("framework_version", "training framework and version, e.g. torch-2.5.1", nullable=True),
    ),
)

JOB_STEP_TIMES = Source(
    name="job_step_times",
    grain="one row per logged step line per job attempt per worker (training loops log one line every N steps)",
    key=("job_id", "attempt", "worker", "step"),
    time_column="ts",
    columns=(
        _ts("ts", "when the line was logged (its last step ended); laid end to end from the run's start if not"),
        Column("ts_logged", "BOOLEAN", "the log gave the time (else `ts` is an estimate for ordering only)"),
        _text("job_id", "scheduler job id"),
        Column("attempt", "INTEGER", "attempt the worker belongs to", min=0),
        Column("worker", "INTEGER", "worker rank", min=0),
        _text("node_id", "node the worker runs on", nullable=True),
        Column("step", "BIGINT", "the step the line was logged at", min=0),
        Column("covers", "BIGINT", "steps the line stands for (since the rank's previous line)", "steps", min=1),
        Column(
            "step_time_s", "DOUBLE", "the rank's own time per step over those steps (no wait for peers)", "s", min=0
        ),
    ),
)

JOB_METADATA = Source(
    name="job_metadata",
    grain="one row per job, as submitted",
    key=("job_id",),
    time_column="submitted_at",
    columns=(
        _text("job_id", "scheduler job id"),
        _ts("submitted_at", "submission time"),
        _text("team", "owning team (chargeback unit)"),
        _text("user_name", "submitting user", nullable=True),
        _text("region", "region (cluster) the job was submitted to; null if the scheduler spans regions", True),
        _text("workload_class", "class of work", allowed=WORKLOAD_CLASSES),
        _text("model_type", "model family, e.g. llm-7b", nullable=True),
        _text("dataset", "training dataset", nullable=True),
        Column("requested_gpus", "DOUBLE", "GPUs requested; fractions for MIG/shared", "GPU", min=0, max=4096),
        _text("requested_sku", "GPU model required, null if any", nullable=True),
        Column("requested_gpu_mem_gib", "DOUBLE", "GPU memory requested per GPU", "GiB", True, 0),
        Column("requested_cpus", "INTEGER", "CPU cores requested", nullable=True, min=0),
        Column("requested_mem_gib", "DOUBLE", "host memory requested", "GiB", True, 0),
        _text("image", "container image", nullable=True),
        _text("framework_version", "training framework and version", nullable=True),
        Column("priority", "INTEGER", "priority at submission", nullable=True),
        _text("queue", "partition or queue", nullable=True),
        _ts("deadline_at", "deadline for pipeline jobs (retrains)", nullable=True),
        Column("reports_steps", "BOOLEAN", "whether the job reports training steps", nullable=True),
    ),
)

COST_CAPACITY = Source(
    name="cost_capacity",
    grain="one row per day per region per GPU SKU",
    key=("cost_date", "region", "sku"),
    time_column=None,
    columns=(
        Column("cost_date", "DATE", "day the capacity was paid for"),
        _text("region", "region"),
        _text("sku", "GPU model"),
        Column("gpus_total", "BIGINT", "GPUs paid for", unit="GPU", min=0),
        Column("gpus_reserved", "BIGINT", "GPUs on reserved (committed) pricing", unit="GPU", min=0),
        Column("gpus_on_demand", "BIGINT", "GPUs on on-demand pricing", unit="GPU", min=0),
        Column("reserved_usd_per_gpu_h", "DOUBLE", "reserved price", unit="USD per GPU-hour", min=0),
        Column("on_demand_usd_per_gpu_h", "DOUBLE", "on-demand price", unit="USD per GPU-hour", min=0),
        Column("cost_usd", "DOUBLE", "the bill for the day", unit="USD", min=0),
    ),
)

CHANGE_EVENTS = Source(
    name="change_events",
    grain="one row per change (deploy, upgrade, config or policy change, rollout)",
    key=("change_id",),
    time_column="changed_at",
    columns=(
        _text("change_id", "change id"),
        _ts("changed_at", "when the change took effect"),
        _text("change_type", "kind of change", allowed=CHANGE_TYPES),
        _text("component", "what changed, e.g. nvidia-driver, torch image, scheduler"),
        _text("from_version", "version before", nullable=True),
        _text("to_version", "version after", nullable=True),
        _text("scope_region", "region affected, null if all", nullable=True),
        _text("scope_sku", "SKU affected, null if all", nullable=True),
        _text("scope_team", "team affected, null if all", nullable=True),
        _text("scope_node_ids", "comma-separated nodes affected, null if the whole scope", nullable=True),
        _text("description", "what the change was, as the change system records it", nullable=True),
    ),
)

MAINTENANCE_WINDOWS = Source(
    name="maintenance_windows",
    grain="one row per planned maintenance window",
    key=("window_id",),
    time_column="start_at",
    columns=(
        _text("window_id", "window id"),
        _ts("start_at", "planned start"),
        _ts("end_at", "planned end"),
        _text("scope_region", "region, null if the node list says it", nullable=True),
        _text("scope_node_ids", "comma-separated nodes drained for the window", nullable=True),
        _text("reason", "why", nullable=True),
        _ts("announced_at", "when the window was announced", nullable=True),
    ),
)

SOURCES: dict[str, Source] = {
    s.name: s
    for s in (
        INVENTORY,
        GPU_TELEMETRY,
        NODE_TELEMETRY,
        NETWORK_TELEMETRY,
        SCHEDULER_EVENTS,
        JOB_RUNTIME_METRICS,
        JOB_STEP_TIMES,
        JOB_METADATA,
        COST_CAPACITY,
        CHANGE_EVENTS,
        MAINTENANCE_WINDOWS,
    )
}
