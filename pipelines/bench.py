"""`goodput bench`: speed and memory of the pipeline on the default fleet, as medians over repeated runs and as
ratios against a floor measured in the same run (so a noisy shared machine shifts both sides alike).

Each measured step runs in a fresh child process, so its peak memory is its own.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import platform
import resource
import shutil
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

DEFAULT_SCENARIO = {"name": "bench", "seed": 1, "start": "2026-03-02T00:00:00Z"}


@dataclass
class Figure:
    name: str
    median_s: float
    runs_s: list[float]
    peak_rss_mib: float
    baseline: str | None = None
    baseline_median_s: float | None = None
    target_s: float | None = None

    @property
    def ratio(self) -> float | None:
        return self.median_s / self.baseline_median_s if self.baseline_median_s else None


def _child(target, args, queue) -> None:
    started = time.perf_counter()
    target(*args)
    queue.put((time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


def _measure(target, *args) -> tuple[float, float]:
    """Seconds and peak RSS (MiB) of target(*args) in a fresh process."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_child, args=(target, args, queue))
    process.start()
    elapsed, rss = queue.get()
    process.join()
    if process.exitcode:
        raise RuntimeError(f"benchmark step {target.__name__} failed with exit code {process.exitcode}")
    return elapsed, rss


def _simulate(days: int, out: str) -> None:
    from pipelines.simulate.run import simulate
    from pipelines.simulate.scenario import scenario_from_dict

    simulate(scenario_from_dict({**DEFAULT_SCENARIO, "days": days}), out, progress=False)


def _rewrite_parquet(landing: str, out: str) -> None:
    """The floor of simulation: read back what it wrote and write the same tables again."""
    import pyarrow.parquet as pq

    for path in Path(landing).rglob("*.parquet"):
        target = Path(out) / path.relative_to(landing)
        target.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pq.read_table(path), target, compression="zstd")


def _build(landing: str, db: str) -> None:
    from pipelines.orchestration.build import build

    build(landing, db, progress=False)


def _scan_load(landing: str, db: str) -> None:
    """The floor of ingest: one DuckDB scan of each source's Parquet straight into a table."""
    import duckdb

    con = duckdb.connect(db)
    for folder in sorted(p for p in Path(landing).iterdir() if p.is_dir() and not p.name.startswith("_")):
        con.execute(f"create table {folder.name} as select * from read_parquet(?)", [str(folder / "*" / "*.parquet")])
    con.close()


def run_bench(days: int = 7, repeat: int = 3, work: Path | None = None) -> list[Figure]:
    work = Path(work or tempfile.mkdtemp(prefix="goodput-bench-"))
    figures = []
    for label, n_days, target in (("simulate_1d", 1, 15.0), (f"simulate_{days}d", days, 90.0 * days / 7)):
        runs, floors, rss = [], [], []
        for index in range(repeat):
            landing = work / f"landing_{n_days}d_{index}"
            elapsed, peak = _measure(_simulate, n_days, str(landing))
            runs.append(elapsed)
            rss.append(peak)
            floors.append(_measure(_rewrite_parquet, str(landing), str(work / "rewrite"))[0])
            shutil.rmtree(work / "rewrite", ignore_errors=True)
            if index:
                shutil.rmtree(landing)
        figures.append(
            Figure(
                label,
                statistics.median(runs),
                runs,
                max(rss),
                "rewrite the same Parquet",
                statistics.median(floors),
                target,
            )
        )
    landing = work / f"landing_{days}d_0"
    runs, floors, rss = [], [], []
    for index in range(repeat):
        db, floor_db = work / f"bench_{index}.duckdb", work / f"floor_{index}.duckdb"
        elapsed, peak = _measure(_build, str(landing), str(db))
        runs.append(elapsed)
        rss.append(peak)
        floors.append(_measure(_scan_load, str(landing), str(floor_db))[0])
        for path in (db, floor_db):
            path.unlink(missing_ok=True)
    figures.append(
        Figure(
            f"ingest_{days}d",
            statistics.median(runs),
            runs,
            max(rss),
            "one DuckDB scan of the same Parquet into tables",
            statistics.median(floors),
            60.0 * days / 7,
        )
    )
    shutil.rmtree(work, ignore_errors=True)
    return figures


def machine() -> dict[str, object]:
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}


def to_json(figures: list[Figure]) -> str:
    return json.dumps(
        {"machine": machine(), "figures": [{**asdict(f), "ratio_to_baseline": f.ratio} for f in figures]}, indent=2
    )
