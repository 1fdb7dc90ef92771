"""The root-cause notebooks, executed as an analyst would run them, each on the scenario that reproduces its finding
(the default fleet, simulated and built once into a temporary folder); and stored without outputs. The three
scenario warehouses are built side by side before the first notebook runs (each build is mostly one core's work):
the notebooks then find them built, as an analyst's second run does."""

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SCENARIOS = NOTEBOOKS.parent / "data" / "scenarios"
BUILT = {"storage_slowdown", "priority_change", "fragmentation"}  # the scenario each notebook opens
FINDINGS = {
    "01_goodput_drop_root_cause.ipynb": {"region": "eu-west", "family": "data_io", "reason": "dataloader"},
    "02_finding_a_flat_utilisation_sla_misses.ipynb": {"cause": "queueing"},
    "03_finding_b_queueing_with_healthy_nodes.ipynb": {"region": "us-east", "cause": "fragmentation"},
}


def _finding(notebook) -> dict:
    """The JSON the last cell prints: what the notebook concluded."""
    text = "".join(o.get("text", "") for o in notebook.cells[-1].outputs if o.get("output_type") == "stream")
    return json.loads(text)


@pytest.fixture(scope="module")
def notebook_data(tmp_path_factory) -> Path:
    data = tmp_path_factory.getbasetemp() / "notebook_data"
    command = [sys.executable, "-m", "pipelines.orchestration.scenario"]
    builds = [
        subprocess.Popen([*command, str(SCENARIOS / f"{name}.yml"), str(data / name)], stdout=subprocess.DEVNULL)
        for name in sorted(BUILT)
    ]
    assert [build.wait(timeout=1200) for build in builds] == [0] * len(builds)
    return data


@pytest.mark.parametrize("name", sorted(FINDINGS))
def test_the_notebook_runs_and_reaches_its_finding(name, notebook_data, monkeypatch):
    data = notebook_data
    monkeypatch.setenv("GOODPUT_NOTEBOOK_DATA", str(data))
    monkeypatch.setenv("GOODPUT_REPO", str(NOTEBOOKS.parent))
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(
        notebook, timeout=1200, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    )
    client.execute(env=dict(os.environ))
    finding = _finding(notebook)
    for key, expected in FINDINGS[name].items():
        assert finding[key] == expected, (key, finding)
    if name.startswith("01"):
        assert "storage_latency" in finding["rules_fired"]
    if name.startswith("02"):
        assert "priority" in finding["suspected_change"]
        assert finding["moves"]["queueing"] < -0.2 and abs(finding["moves"]["step_efficiency"]) < 0.05
    if name.startswith("03"):
        assert "placement" in finding["suspected_change"] and finding["fit_largest_free_block"] == 0


def test_notebooks_are_stored_without_outputs():
    for path in NOTEBOOKS.glob("*.ipynb"):
        notebook = nbformat.read(path, as_version=4)
        assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), path.name
