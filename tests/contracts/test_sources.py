"""The contracts are complete and self-consistent, and the simulator writes exactly them."""

import pyarrow.parquet as pq
import pytest

from pipelines.contracts import SOURCES

REQUIRED_SOURCES = {
    "gpu_telemetry",
    "node_telemetry",
    "network_telemetry",
    "scheduler_events",
    "job_runtime_metrics",
    "job_metadata",
    "cost_capacity",
    "change_events",
    "maintenance_windows",
    "inventory",
}


def test_every_source_of_the_design_is_declared():
    assert REQUIRED_SOURCES <= set(SOURCES)


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_contract_is_self_consistent(name):
    source = SOURCES[name]
    names = source.column_names
    assert len(names) == len(set(names)), "a column is declared twice"
    assert set(source.key) <= set(names)
    assert source.grain.startswith("one row per")
    for column in source.columns:
        assert column.description, f"{name}.{column.name} needs a description"
        if column.min is not None and column.max is not None:
            assert column.min < column.max


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_units_are_in_the_names_of_physical_columns(name):
    # a reader of raw tables must never have to guess a unit: W, degC, MiB, s carry a suffix
    suffixes = {"W": "_w", "degC": "_c", "MiB": "_mib", "s": "_s", "GiB": "_gib", "USD": "_usd"}
    for column in SOURCES[name].columns:
        if column.unit in suffixes:
            assert column.name.endswith(suffixes[column.unit]), f"{name}.{column.name} ({column.unit})"


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_simulator_writes_the_contract_schema(landing, name):
    files = sorted((landing / name).glob("date=*/*.parquet"))
    assert files, f"no landing files for {name}"
    for file in files:
        assert pq.read_schema(file).remove_metadata() == SOURCES[name].arrow_schema()
