"""The metric catalog: metrics/*.yml validated on load, with errors that name the file and the key."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pipelines.config import read_yaml
from pipelines.project_files import project_dir

METRICS_DIR = project_dir("metrics")
GRAINS = ("minute", "5min", "hour", "day", "week")


class MetricError(ValueError):
    """A metric definition or a metric query that cannot be used; the message says what is valid."""


class Metric(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str
    description: str
    owner: Literal["Infra", "ML Platform", "Finance"]
    timing: Literal["leading", "lagging"]
    intent: Literal["page", "ticket", "dashboard"]
    mart: str
    time_dimension: str
    # both default to what the mart's rollup declaration in models/ says (its slices; its rollups by bucket)
    rollups: dict[str, str] | None = None
    dimensions: list[str] | None = None
    grains: list[Literal["minute", "5min", "hour", "day", "week"]]
    type: Literal["simple", "ratio", "quantile"]
    measure: str | None = None
    numerator: str | None = None
    denominator: str | None = None
    quantile: float | None = Field(default=None, gt=0, lt=1)
    scale: float = 1.0
    thresholds: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _measures_fit_the_type(self) -> Metric:
        needs = {"simple": ("measure",), "ratio": ("numerator", "denominator"), "quantile": ("measure", "quantile")}
        missing = [k for k in needs[self.type] if getattr(self, k) is None]
        if missing:
            raise ValueError(f"a {self.type} metric needs {', '.join(missing)}")
        return self


def _with_rollups(metric: Metric, path: Path) -> Metric:
    """The metric with the dimensions and rollups it left to its mart's rollup declaration filled in."""
    from pipelines.modeling.project import rollups_from

    slices, rollups = rollups_from(metric.mart)
    if metric.dimensions is None and not slices:
        raise MetricError(f"{path}: {metric.name}: give dimensions ({metric.mart} declares no rollup slices)")
    return metric.model_copy(
        update={
            "dimensions": list(slices) if metric.dimensions is None else metric.dimensions,
            "rollups": rollups if metric.rollups is None else metric.rollups,
        }
    )


def load_catalog(folder: Path = METRICS_DIR) -> dict[str, Metric]:
    metrics: dict[str, Metric] = {}
    for path in sorted(folder.glob("*.yml")):
        try:
            data = read_yaml(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise MetricError(f"{path}: not valid YAML: {exc}") from None
        for index, entry in enumerate(data.get("metrics", [])):
            try:
                metric = Metric.model_validate(entry)
            except ValidationError as exc:
                where = entry.get("name", f"metrics[{index}]") if isinstance(entry, dict) else f"metrics[{index}]"
                problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(entry)'}: {e['msg']}" for e in exc.errors())
                raise MetricError(f"{path}: {where}: {problems}") from None
            metric = _with_rollups(metric, path)
            if metric.name in metrics:
                raise MetricError(f"{path}: metric '{metric.name}' is defined twice")
            metrics[metric.name] = metric
    return metrics
