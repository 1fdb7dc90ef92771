"""Report settings as data (pipelines/config/reports.yml), validated on load with an error naming file and key."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from pipelines.detect.config import CONFIG_DIR, load_yaml


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SlaPenalty(_Strict):
    usd_per_miss: float = Field(ge=0)
    usd_per_hour_late: float = Field(ge=0)


class ReportsConfig(_Strict):
    sla_penalty: SlaPenalty
    health_hours: float = Field(gt=0, le=24 * 7)


@cache
def reports_config(path: Path = CONFIG_DIR / "reports.yml") -> ReportsConfig:
    return load_yaml(path, ReportsConfig)
