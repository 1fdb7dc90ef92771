"""Every goodput loss reason, once: the column that holds it, the factor it lowers and the family it belongs to.

Detection, `explain`, the reports and the metric docs read this table, so that one loss has one family everywhere.
The five fault families answer "what broke"; the others answer "what else moved": how teams use their GPUs
(`workload`: GPUs held idle by running jobs, user-code failures and cancellations, checkpoints at their usual
cost), how much work there is
(`demand`), planned maintenance (`planned`), busy work without progress (`gaming`) and what was not observed
(`telemetry`). A family split by failure cause (work lost after a checkpoint) has one reason per cause.
"""

from __future__ import annotations

from dataclasses import dataclass

FAULT_FAMILIES = ("hardware", "software", "scheduling", "data_io", "network")
OTHER_FAMILIES = ("workload", "demand", "planned", "gaming", "telemetry")
FAMILIES = FAULT_FAMILIES + OTHER_FAMILIES
# families a goodput-drop alert may name: a drop for lack of work or for planned maintenance pages nobody
ALERTABLE_FAMILIES = tuple(f for f in FAMILIES if f not in ("demand", "planned"))
# the GPU-minute facts hold the work lost after a failure in one column, with the failure's cause beside it; the
# rollups split it into one column per cause (the `lost_after_failure_<cause>` reasons)
LOST_AFTER_FAILURE = "loss_after_checkpoint_gpu_min"
FAILURE_CAUSE = "failure_family"


@dataclass(frozen=True)
class LossReason:
    reason: str
    column: str  # loss_<reason>_gpu_min in the GPU-minute facts and their rollups
    factor: str  # availability, allocation, retention or step_efficiency
    family: str

    @property
    def is_fault(self) -> bool:
        return self.family in FAULT_FAMILIES

    @property
    def failure_cause(self) -> str | None:
        """For work lost after a failure: the `failure_family` of the GPU-minute rows whose lost work it is."""
        prefix = "lost_after_failure_"
        return self.reason.removeprefix(prefix) if self.reason.startswith(prefix) else None


def _r(reason: str, column: str, factor: str, family: str) -> LossReason:
    return LossReason(reason, f"loss_{column}_gpu_min", factor, family)


REASONS: tuple[LossReason, ...] = (
    _r("maintenance", "maintenance", "availability", "planned"),
    _r("gpu_fault", "gpu_fault", "availability", "hardware"),
    _r("unobserved", "unobserved", "availability", "telemetry"),
    _r("idle_with_demand", "idle_with_demand", "allocation", "scheduling"),
    _r("no_demand", "no_demand", "allocation", "demand"),
    _r("lost_after_failure_hardware", "failed_hardware", "retention", "hardware"),
    _r("lost_after_failure_software", "failed_software", "retention", "software"),
    _r("lost_after_failure_network", "failed_network", "retention", "network"),
    _r("lost_after_failure_data_io", "failed_data_io", "retention", "data_io"),
    _r("lost_after_failure_scheduling", "failed_scheduling", "retention", "scheduling"),  # preemption
    _r("lost_after_failure_user", "failed_user", "retention", "workload"),  # user code, user cancellations
    _r("lost_after_failure_planned", "failed_planned", "retention", "planned"),
    _r("startup", "startup", "retention", "software"),  # images and frameworks starting up: the platform's
    # a checkpoint costs what the cohort's reference checkpoint costs (how often a team writes one: workload); only
    # the time past that reference is a slow write (storage): a mix of more checkpointing jobs is not a data_io fault
    _r("checkpoint_overhead", "checkpoint_overhead", "step_efficiency", "workload"),
    _r("checkpoint", "checkpoint", "step_efficiency", "data_io"),  # past the cohort's reference checkpoint
    _r("dataloader", "dataloader", "step_efficiency", "data_io"),
    _r("grad_sync", "grad_sync", "step_efficiency", "network"),
    _r("compute_throttled", "compute_throttled", "step_efficiency", "hardware"),
    _r("compute_slow", "compute_slow", "step_efficiency", "software"),
    _r("other", "other", "step_efficiency", "software"),
    _r("held_idle", "held_idle", "step_efficiency", "workload"),  # a running job's GPUs unused (notebooks)
    _r("telemetry_gap", "telemetry_gap", "step_efficiency", "telemetry"),
    _r("no_progress", "no_progress", "step_efficiency", "gaming"),
    _r("stalled", "stalled", "step_efficiency", "software"),  # a job that stopped stepping while holding GPUs
)


def columns_by_family(families: tuple[str, ...] = FAMILIES) -> dict[str, list[str]]:
    """The loss columns of each family, in the order of `families`."""
    return {f: [r.column for r in REASONS if r.family == f] for f in families}


def family_of(reason: str) -> str:
    return next(r.family for r in REASONS if r.reason == reason)
