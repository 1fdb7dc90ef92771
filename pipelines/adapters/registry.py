"""The adapters `goodput ingest --format` knows, declared once: adding one is a module that meets `Adapter` and an
entry here (the CLI's choices and help, the Prometheus pull and the tests read this table)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:  # the CLI reads this table to build its parser, before any adapter (or Polars) is imported
    from pipelines.adapters.base import Adapted


@runtime_checkable
class Adapter(Protocol):
    """A module that maps one exporter's files onto the source contracts. SUFFIXES: the file endings it reads from
    a folder; OPTIONS: which of `at`, `region` and `node` its `adapt` takes."""

    SUFFIXES: tuple[str, ...]
    OPTIONS: tuple[str, ...]

    def adapt(self, paths: list[Path], **options) -> Adapted: ...


@dataclass(frozen=True)
class Format:
    name: str
    module: str
    reads: str  # what it reads, for the CLI's help
    series: str | None = None  # the module's list of Prometheus metric names, for exporters a server scrapes

    def load(self) -> Adapter:
        """The module, imported on first use (the CLI starts without importing every adapter)."""
        from pipelines.adapters.base import AdapterError

        module = import_module(self.module)
        if not isinstance(module, Adapter):
            raise AdapterError(f"adapter {self.name} ({self.module}) lacks adapt, SUFFIXES or OPTIONS")
        return module


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("dcgm", "pipelines.adapters.dcgm", "dcgm-exporter scrapes", series="GAUGES"),
        Format("nvidia-smi", "pipelines.adapters.nvidia_smi", "nvidia-smi --query-gpu/--query-compute-apps CSV"),
        Format("node-exporter", "pipelines.adapters.node_exporter", "node_exporter scrapes", series="USED"),
        Format("sacct", "pipelines.adapters.sacct", "Slurm sacct --parsable2 accounting logs"),
        Format("k8s", "pipelines.adapters.k8s", "kube-state-metrics scrapes or kubectl events JSON", series="USED"),
        Format(
            "step-times", "pipelines.adapters.step_times", "per-rank step logs (job_id,worker,step,step_time_s[,ts])"
        ),
    )
}


def adapter(name: str) -> Adapter:
    from pipelines.adapters.base import AdapterError

    if name not in FORMATS:
        raise AdapterError(f"unknown format {name!r} (valid: {', '.join(FORMATS)})")
    return FORMATS[name].load()


def formats_help() -> str:
    return "; ".join(f"{f.name}: {f.reads}" for f in FORMATS.values())
