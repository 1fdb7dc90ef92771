"""Detection settings as data: GPU health rules per SKU, the detectors' thresholds and the alert routes, each
validated on load with an error that names the file and the key."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipelines.config import read_yaml

CONFIG_DIR = Path(__file__).parents[1] / "config"
FAMILIES = ("hardware", "software", "scheduling", "data_io", "network", "gaming", "telemetry")
Severity = Literal["info", "warning", "critical"]
Intent = Literal["page", "ticket", "dashboard"]
Family = Literal["hardware", "software", "scheduling", "data_io", "network", "gaming", "telemetry"]


class ConfigError(ValueError):
    """A detection config file that cannot be used; the message names the file and the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HealthRule(_Strict):
    signal: Literal[
        "temp_c",
        "power_share",
        "throttle_reasons",
        "ecc_corrected_5min",
        "ecc_uncorrected_count",
        "xid",
        "mem_used_share",
    ]
    op: Literal[">=", "any_bit", "in"]
    thresholds: dict[str, float | list[int]]
    persistence_min: int = Field(ge=1)
    severity: Severity
    intent: Intent
    family: Family
    action: Literal["notify", "throttle", "preempt", "quarantine"]
    summary: str

    def threshold(self, sku: str) -> Any:
        if sku in self.thresholds:
            return self.thresholds[sku]
        if "default" not in self.thresholds:
            raise ConfigError(f"no threshold for SKU {sku} and no default")
        return self.thresholds["default"]


class Trend(_Strict):
    rule: str
    band: float = Field(gt=0)
    window_min: int = Field(ge=3)
    horizon_min: int = Field(ge=1)
    min_slope_per_min: float = Field(gt=0)
    persistence_min: int = Field(ge=1)


class HealthConfig(_Strict):
    arrival_delay_min: int = Field(0, ge=0)
    drain_cooloff_min: int = Field(60, ge=0)
    rules: dict[str, HealthRule]
    trends: dict[Literal["temp_c", "ecc_corrected_count"], Trend] = Field(default_factory=dict)


class Detector(_Strict):
    """A statistical detector over a scope's series: the signal against its own trailing baseline (or, without
    enough history yet, against its peers in the same minute)."""

    ratio: float = Field(gt=0)
    floor: float = Field(0.0, ge=0)
    min_value: float = Field(0.0, ge=0)
    persistence_min: int = Field(ge=1)
    weekly: bool = False  # the same hour of the weeks before is the baseline, where they exist
    peers_by: list[str] = []  # peers share these keys too (a workload class is held against the same class elsewhere)
    above_quantile: float | None = Field(None, gt=0, lt=1)  # and above this quantile of its own trailing window
    severity: Severity
    intent: Intent
    family: Family
    summary: str


class CohortRules(_Strict):
    """A changed cohort against the unchanged one in the same window: deploys, placement and queue policies,
    rollouts (the meaning of each setting is beside it in detection.yml)."""

    horizon_h: float = Field(gt=0)
    min_events: int = Field(ge=1)
    fault_rate_ratio: float = Field(gt=1)
    fault_min_rest_share: float = Field(ge=0, lt=1)
    fault_baseline_h: float = Field(gt=0)
    min_worker_minutes: int = Field(ge=1)
    step_time_ratio: float = Field(gt=1)
    first_jobs_min_worker_minutes: int = Field(ge=1)
    first_jobs_z: float = Field(gt=0)
    first_jobs_noise_floor: float = Field(gt=0)
    min_placement_minutes: int = Field(ge=1)
    min_placement_gpu_minutes: float = Field(ge=0)
    stranded_share_min: float = Field(gt=0, le=1)
    stranded_share_floor: float = Field(ge=0, le=1)
    stranded_of_free_min: float = Field(gt=0, le=1)
    stranded_of_free_rise: float = Field(gt=1)
    stranded_of_free_rise_min: float = Field(gt=0, le=1)
    stranded_ratio: float = Field(gt=1)
    stranded_window_min: int = Field(ge=1)
    stranded_onset_min: int = Field(ge=0)
    rollout_min_minutes: int = Field(ge=1)
    rollout_wait_ratio: float = Field(gt=1)
    rollout_wait_margin: float = Field(ge=0, le=1)
    queue_jump_window_min: int = Field(ge=1)
    queue_jump_min_minutes: int = Field(ge=1)
    queue_jump_min_jobs: int = Field(ge=1)
    queue_jump_min_wait_s: float = Field(ge=0)
    queue_jump_ratio: float = Field(gt=1)
    spread_window_min: int = Field(ge=1)
    spread_min_starts: int = Field(ge=1)
    spread_min_unpacked: int = Field(ge=1)
    spread_ratio: float = Field(gt=1)
    spread_margin: float = Field(ge=0, le=1)
    spread_drain_lead_min: int = Field(ge=0)
    inversion_before_h: int = Field(ge=1)
    inversion_window_min: int = Field(ge=1)
    inversion_min_events: int = Field(ge=1)
    inversion_first_h: int = Field(ge=1)


class GamingRules(_Strict):
    """A busy loop: SMs spinning with no tensor work, for enough of a team's GPU-minutes in the trailing hour."""

    min_sm_active_pct: float = Field(ge=0, le=100)
    max_tensor_active_pct: float = Field(ge=0, le=100)
    min_gpu_minutes: float = Field(gt=0)


class StragglerRules(_Strict):
    """A rank slower than its peers' median: at minute grain for `persistence_min` minutes at `ratio`; at step grain
    for `step_persistence_samples` consecutive lines standing for `step_persistence_steps` steps at `step_ratio`."""

    min_workers: int = Field(2, ge=2)
    ratio: float = Field(gt=1)
    persistence_min: int = Field(ge=1)
    step_ratio: float = Field(gt=1)
    step_persistence_samples: int = Field(ge=1)
    step_persistence_steps: int = Field(ge=1)
    step_max_gap_samples: int = Field(0, ge=0)


class DetectionConfig(_Strict):
    baseline_window: str = "24h"
    min_history_min: int = Field(60, ge=1)
    cold_history_min: int = Field(15, ge=1)
    profile_weeks: int = Field(4, ge=1)
    detectors: dict[str, Detector]
    outage_min: int = Field(5, ge=1)
    outage_min_pending: int = Field(3, ge=1)
    cohort: CohortRules
    gap_min: int = Field(5, ge=1)
    gaming: GamingRules
    stragglers: StragglerRules


def load_yaml(path: Path, model: type[BaseModel]) -> Any:
    try:
        data = read_yaml(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    try:
        return model.model_validate(data or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{path}: {where}: {first['msg']}") from None


@cache
def health_config(path: Path = CONFIG_DIR / "health_rules.yml") -> HealthConfig:
    config = load_yaml(path, HealthConfig)
    for name, trend in config.trends.items():
        if trend.rule not in config.rules:
            raise ConfigError(f"{path}: trends.{name}.rule: unknown rule '{trend.rule}' (valid: {list(config.rules)})")
    return config


@cache
def detection_config(path: Path = CONFIG_DIR / "detection.yml") -> DetectionConfig:
    return load_yaml(path, DetectionConfig)
