"""A warehouse for a scenario, simulated and built once and reused: what the notebooks (and anyone exploring a
scenario from Python) start from."""

from __future__ import annotations

from pathlib import Path

from pipelines.orchestration.build import build
from pipelines.simulate.run import simulate
from pipelines.simulate.scenario import load_scenario


def scenario_warehouse(scenario: str | Path, folder: str | Path, progress: bool = False) -> Path:
    """`folder/goodput.duckdb` built from the scenario's simulated landing (`folder/landing`); made on first use.
    The landing keeps the truth (`_truth/`) for scoring."""
    folder = Path(folder)
    db = folder / "goodput.duckdb"
    if not db.exists():
        simulate(load_scenario(Path(scenario)), folder / "landing", progress=progress)
        build(folder / "landing", folder / "tmp.duckdb", progress=progress)
        (folder / "tmp.duckdb").rename(db)  # only a finished build is reused
    return db


if __name__ == "__main__":  # python -m pipelines.orchestration.scenario SCENARIO FOLDER: one build per process
    import sys

    print(scenario_warehouse(sys.argv[1], sys.argv[2]))
