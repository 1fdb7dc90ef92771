"""Shared fixtures: a small simulated fleet with every incident kind, simulated once per test session."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from pipelines.simulate.run import simulate
from pipelines.simulate.scenario import load_scenario

FIXTURES = Path(__file__).parent / "fixtures"
SCENARIOS = Path(__file__).parents[1] / "data" / "scenarios"


@pytest.fixture(scope="session")
def all_incidents_scenario():
    return load_scenario(FIXTURES / "all_incidents.yml")


@pytest.fixture(scope="session")
def landing(tmp_path_factory, all_incidents_scenario) -> Path:
    out = tmp_path_factory.mktemp("landing")
    simulate(all_incidents_scenario, out, progress=False)
    return out


@pytest.fixture(scope="session")
def truth(landing) -> list[dict]:
    import json

    return json.loads((landing / "_truth" / "incidents.json").read_text())


@pytest.fixture()
def sql(landing):
    """Query the landing Parquet with DuckDB: sql("select ... from gpu_telemetry") reads every partition."""
    con = duckdb.connect()
    for source in [p.name for p in landing.iterdir() if p.is_dir() and not p.name.startswith("_")]:
        con.execute(f"create view {source} as select * from read_parquet('{landing / source}/*/*.parquet')")
    yield lambda query, params=None: con.execute(query, params).fetchall()
    con.close()


@pytest.fixture(scope="session")
def tiny_db_path(tmp_path_factory) -> Path:
    """The hand-computed fleet of tests/fixtures/tiny_fleet.py, built through Dagster into a DuckDB file."""
    from pipelines.orchestration.build import build
    from tests.fixtures.tiny_fleet import write_tiny_fleet

    root = tmp_path_factory.mktemp("tiny")
    write_tiny_fleet(root / "landing")
    build(root / "landing", root / "w.duckdb", progress=False)
    return root / "w.duckdb"


@pytest.fixture()
def tiny_db(tiny_db_path):
    con = duckdb.connect(str(tiny_db_path), read_only=True)
    yield con
    con.close()


@pytest.fixture(scope="session")
def incidents_db_path(tmp_path_factory, landing) -> Path:
    """The all-incidents fleet built through Dagster, models included."""
    from pipelines.orchestration.build import build

    path = tmp_path_factory.mktemp("incidents_db") / "w.duckdb"
    build(landing, path, progress=False)
    return path
