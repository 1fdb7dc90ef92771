"""Timing in fresh processes (each step's peak memory is its own), figures with their targets, their printing."""

from __future__ import annotations

import json
import multiprocessing
import os
import platform
import resource
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from queue import Empty

from bench.targets import TARGETS
from pipelines.bare_main import main_with_a_file


@dataclass
class Figure:
    name: str
    median_s: float
    runs_s: list[float]
    peak_rss_mib: float
    baseline: str | None = None
    baseline_median_s: float | None = None
    target_s: float | None = None
    rows_per_s: float | None = None  # of the GPU-minute fact, for the model builds of each engine
    kind: str | None = None  # the row of bench.targets.TARGETS
    days: int | None = None  # the history it was measured on
    target_ratio: float | None = None
    target_peak_mib: float | None = None
    baseline_runs_s: list[float] | None = None
    baseline_error: str | None = None  # why the baseline has no figure (it died: out of memory, say)

    @property
    def ratio(self) -> float | None:
        return self.median_s / self.baseline_median_s if self.baseline_median_s else None

    @property
    def meets(self) -> bool | None:
        """Whether every target it has is met; None when it has none."""
        checks = []
        if self.target_s is not None:
            checks.append(self.median_s <= self.target_s)
        if self.target_ratio is not None and self.ratio is not None:
            checks.append(self.ratio <= self.target_ratio)
        if self.target_peak_mib is not None and self.peak_rss_mib:
            checks.append(self.peak_rss_mib <= self.target_peak_mib)
        return all(checks) if checks else None


def targeted(figure: Figure, kind: str, days: int | None = None) -> Figure:
    """The figure with its kind's targets (a per-day target times its days)."""
    target = TARGETS[kind]
    figure.kind, figure.days = kind, days
    figure.target_s = target.seconds
    if target.seconds_per_day is not None and days:
        figure.target_s = target.seconds_per_day * days
    figure.target_ratio, figure.target_peak_mib = target.ratio, target.peak_mib
    return figure


def _child(target, args, queue) -> None:
    started = time.perf_counter()
    with main_with_a_file():  # spawned from `python -m pipelines.cli bench`, the child's __main__ is bare
        timed = target(*args)  # a target that times itself (after its imports) returns its own seconds
    elapsed = timed if isinstance(timed, float) else time.perf_counter() - started
    if hasattr(timed, "stop"):  # a Spark session: its JVM, a child process, counts once it has exited
        timed.stop()
        timed = None
    queue.put((elapsed, _peak_kib() / 1024))


def _peak_kib() -> int:
    """The process's own peak RSS and its children's (a Spark JVM). Not getrusage(RUSAGE_SELF): a spawned process
    inherits its parent's high-water mark through fork and exec, so the bench's own memory would floor every step."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return max(int(line.split()[1]), children)
    except OSError:
        pass
    return max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, children)


def measure(target, *args) -> tuple[float, float]:
    """Seconds and peak RSS (MiB) of target(*args) in a fresh process."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_child, args=(target, args, queue))
    process.start()
    while True:  # a child that dies (out of memory, say) never answers: say so rather than wait forever
        try:
            elapsed, rss = queue.get(timeout=5)
            break
        except Empty:
            if not process.is_alive():
                raise RuntimeError(f"benchmark step {target.__name__} died (exit code {process.exitcode})") from None
    process.join()
    if process.exitcode:
        raise RuntimeError(f"benchmark step {target.__name__} failed with exit code {process.exitcode}")
    return elapsed, rss


def report(figure: Figure) -> Figure:
    """Each figure as it is measured, on stderr, so a long run shows its progress and loses nothing."""
    print(
        f"bench: {figure.name}: median {figure.median_s:.2f} s over {len(figure.runs_s)} run(s), "
        f"peak {figure.peak_rss_mib:,.0f} MiB",
        file=sys.stderr,
        flush=True,
    )
    return figure


def report_failure(days: int, error: Exception) -> None:
    print(f"bench: the {days}-day figures stop here: {error}", file=sys.stderr, flush=True)


def timed(
    label: str, kind: str, days: int | None, repeat: int, step, *args, baseline=None, baseline_label=None
) -> Figure:
    """`repeat` runs of step(*args), each followed by one of `baseline` (a (step, *args) tuple) when given."""
    runs, rss, floors, baseline_error = [], [], [], None
    for _ in range(repeat):
        elapsed, peak = measure(step, *args)
        runs.append(elapsed)
        rss.append(peak)
        if baseline is not None and baseline_error is None:
            try:
                floors.append(measure(*baseline)[0])
            except RuntimeError as error:  # a reference that cannot run here is a finding, not the end of the bench
                baseline_error = str(error)
    figure = Figure(label, statistics.median(runs), runs, max(rss), baseline_label,
                    statistics.median(floors) if floors else None, baseline_runs_s=floors or None,
                    baseline_error=baseline_error)  # fmt: skip
    return report(targeted(figure, kind, days))


def machine() -> dict[str, object]:
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}


def to_json(result) -> str:
    figures = [{**asdict(f), "ratio_to_baseline": f.ratio, "meets_targets": f.meets} for f in result.figures]
    return json.dumps(
        {
            "machine": machine(),
            "figures": figures,
            "sizes": result.sizes,
            "year": result.year,
            "failures": result.failures,
        },
        indent=2,
        default=str,
    )
