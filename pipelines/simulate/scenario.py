"""Scenario files: the fleet, the days and the incidents to inject, validated with errors that name the field."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipelines.config import parse_span, read_yaml

# kind -> family; the family decides whether an incident should page.
INCIDENT_FAMILIES: dict[str, str] = {
    "ecc_storm": "hardware",
    "thermal_throttle": "hardware",
    "driver_regression": "software",
    "framework_regression": "software",
    "priority_change": "scheduling",
    "fragmentation": "scheduling",
    "scheduler_outage": "scheduling",
    "storage_slowdown": "data_io",
    "network_degradation": "network",
    "dummy_workload": "gaming",
    "telemetry_gap": "telemetry",
}
PAGING_FAMILIES = frozenset({"hardware", "software", "scheduling", "data_io", "network"})
DEFAULT_REGIONS = ("us-east", "eu-west")
REGION_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]*")
MAX_DEMAND = 5.0


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message names the file and the field."""


def parse_when(value: Any, start: datetime) -> datetime:
    """An offset from the scenario start ('+1d03h20m') or an absolute ISO time, as naive UTC."""
    if isinstance(value, datetime):
        return _naive_utc(value)
    text = str(value).strip()
    if text.startswith("+"):
        return start + parse_span(text[1:])
    try:
        return _naive_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError as exc:
        raise ValueError(f"'{text}' is neither an offset like +1d03h nor an ISO time") from exc


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


class Scope(BaseModel):
    model_config = ConfigDict(extra="forbid")
    region: str | None = None
    sku: str | None = None
    nodes: int | list[str] | None = None
    team: str | None = None

    @field_validator("nodes")
    @classmethod
    def _positive(cls, value: int | list[str] | None) -> int | list[str] | None:
        if isinstance(value, int) and value < 1:
            raise ValueError("a node count must be at least 1")
        return value


class Window(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: str | datetime
    duration: str
    scope: Scope = Field(default_factory=Scope)

    @field_validator("duration")
    @classmethod
    def _duration(cls, value: str) -> str:
        if parse_span(value) <= timedelta(0):
            raise ValueError("duration must be positive")
        return value


class Incident(Window):
    kind: str
    magnitude: float = Field(default=1.0, gt=0, le=10)

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        if value not in INCIDENT_FAMILIES:
            raise ValueError(f"unknown kind '{value}' (valid: {', '.join(INCIDENT_FAMILIES)})")
        return value


class FleetSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    gpus: int = Field(default=1200, ge=2, le=200_000)
    nodes: int = Field(default=80, ge=1, le=20_000)
    regions: list[str] = Field(default_factory=lambda: list(DEFAULT_REGIONS), min_length=1)

    @field_validator("regions")
    @classmethod
    def _distinct_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not REGION_NAME.fullmatch(name):
                raise ValueError(f"'{name}' is not a region name (letters, digits and dashes, starting with a letter)")
        lowered = [name.lower() for name in value]
        repeated = sorted({name for name in value if lowered.count(name.lower()) > 1})
        if repeated:
            raise ValueError(f"region {', '.join(repeated)} listed twice")
        return value

    @model_validator(mode="after")
    def _can_be_laid_out(self) -> FleetSpec:
        if self.nodes < len(self.regions):
            regions = len(self.regions)
            raise ValueError(f"nodes: {self.nodes} node(s) cannot cover {regions} regions (one at least each)")
        if self.gpus < self.nodes:
            raise ValueError(f"gpus: {self.gpus} GPU(s) cannot fill {self.nodes} nodes (one at least each)")
        return self


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    seed: int = 0
    start: datetime
    days: int = Field(ge=1, le=366)
    fleet: FleetSpec = Field(default_factory=FleetSpec)
    # how busy: the jobs submitted, as a multiple of the calibrated workload (a weekday asks for about 0.76 of the
    # GPUs), for the whole fleet or per region (regions not named stay at 1)
    demand: float | dict[str, float] = 1.0
    incidents: list[Incident] = Field(default_factory=list)
    maintenance: list[Window] = Field(default_factory=list)

    @field_validator("start")
    @classmethod
    def _utc_minute(cls, value: datetime) -> datetime:
        value = _naive_utc(value)
        if value.second or value.microsecond:
            raise ValueError("start must be on a whole minute")
        return value

    @model_validator(mode="after")
    def _known_demand(self) -> Scenario:
        levels = self.demand if isinstance(self.demand, dict) else {"": self.demand}
        for region, level in levels.items():
            if not 0 < level <= MAX_DEMAND:
                raise ValueError(f"demand{'.' + region if region else ''}: {level} is not in (0, {MAX_DEMAND}]")
            if region and region not in self.fleet.regions:
                raise ValueError(f"demand.{region}: no such region (fleet: {', '.join(self.fleet.regions)})")
        return self

    def region_demand(self) -> list[float]:
        """The demand multiple of each fleet region, in the fleet's order."""
        if isinstance(self.demand, dict):
            return [self.demand.get(region, 1.0) for region in self.fleet.regions]
        return [self.demand] * len(self.fleet.regions)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.days)

    def window(self, item: Window) -> tuple[datetime, datetime]:
        begin = parse_when(item.start, self.start)
        return begin, begin + parse_span(item.duration)


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file; every problem is reported as '<file>: <field>: <message>'."""
    path = Path(path)
    try:
        data = read_yaml(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ScenarioError(f"{path}: cannot read scenario: {exc}") from exc
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: a scenario is a mapping with name, start, days, incidents")
    return scenario_from_dict(data, source=str(path))


def scenario_from_dict(data: dict[str, Any], source: str = "scenario") -> Scenario:
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}" for err in exc.errors())
        raise ScenarioError(f"{source}: {problems}") from None
    for label, items in (("incidents", scenario.incidents), ("maintenance", scenario.maintenance)):
        for index, item in enumerate(items):
            try:
                scenario.window(item)
            except ValueError as exc:
                raise ScenarioError(f"{source}: {label}.{index}.start: {exc}") from None
    return scenario
