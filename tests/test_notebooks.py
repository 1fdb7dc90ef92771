"""The root-cause notebooks, executed as an analyst would run them, each on the scenario that reproduces its finding
(the default fleet, simulated and built once into a temporary folder); and stored without outputs."""

import json
import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
FINDINGS = {
    "01_goodput_drop_root_cause.ipynb": {"region": "eu-west", "family": "data_io", "reason": "dataloader"},
    "02_finding_a_flat_utilisation_sla_misses.ipynb": {"cause": "queueing"},
    "03_finding_b_queueing_with_healthy_nodes.ipynb": {"region": "us-east", "cause": "fragmentation"},
}


def _finding(notebook) -> dict:
    """The JSON the last cell prints: what the notebook concluded."""
    text = "".join(o.get("text", "") for o in notebook.cells[-1].outputs if o.get("output_type") == "stream")
    return json.loads(text)


@pytest.mark.parametrize("name", sorted(FINDINGS))
def test_the_notebook_runs_and_reaches_its_finding(name, tmp_path_factory, monkeypatch):
    data = tmp_path_factory.getbasetemp() / "notebook_data"
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
