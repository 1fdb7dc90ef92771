"""The detection commands as they are run from outside: `alerts`, `score`, `drain` and `stragglers` print the fields
their contracts name, in every format, on a built fleet and on a warehouse that has no GPU telemetry at all."""

import csv
import io
import json
import shutil
from pathlib import Path

import pytest

from pipelines.cli import main

ALERT_FIELDS = {
    "alert_id",
    "rule",
    "severity",
    "intent",
    "family",
    "scope",
    "started_at",
    "detected_at",
    "resolved_at",
    "value",
    "baseline",
    "suspected_change_id",
    "summary",
    "runbook",
}
SLURM = Path(__file__).resolve().parents[1] / "fixtures" / "real" / "slurm"


def _json(capsys, *args: str):
    assert main(list(args)) == 0
    return json.loads(capsys.readouterr().out)


def test_alerts_json_lists_every_field_with_the_scope_decoded(incidents_db_path, capsys):
    alerts = _json(capsys, "alerts", "--db", str(incidents_db_path), "--format", "json")
    assert alerts and all(ALERT_FIELDS <= set(a) for a in alerts)
    assert all(isinstance(a["scope"], dict) for a in alerts)
    assert {a["intent"] for a in alerts} <= {"page", "ticket", "dashboard"}
    assert all(a["detected_at"].endswith("Z") and a["detected_at"] >= a["started_at"] for a in alerts)
    latest = max(a["detected_at"] for a in alerts)
    recent = _json(capsys, "alerts", "--db", str(incidents_db_path), "--since", latest.rstrip("Z"), "--format", "json")
    assert recent and all(a["detected_at"] >= latest for a in recent) and len(recent) < len(alerts)
    assert main(["alerts", "--db", str(incidents_db_path), "--format", "table"]) == 0
    assert "detected_at" in capsys.readouterr().out


def test_score_json_has_incidents_and_the_summary(incidents_db_path, landing, capsys):
    truth = str(landing / "_truth")
    result = _json(capsys, "score", "--db", str(incidents_db_path), "--truth", truth, "--format", "json")
    keys = {"pageable", "detected", "median_latency_min", "max_latency_min", "family_accuracy", "false_pages"}
    assert keys <= set(result["summary"])
    pageable = {
        i["incident_id"] for i in json.loads((landing / "_truth" / "incidents.json").read_text()) if i["should_page"]
    }
    scored = {i["incident_id"] for i in result["incidents"] if i["should_page"]}
    assert scored == pageable and result["summary"]["pageable"] == len(pageable)
    fields = {"incident_id", "kind", "family", "detected", "latency_min", "family_match"}
    assert all(fields <= set(i) for i in result["incidents"])
    assert main(["score", "--db", str(incidents_db_path), "--truth", truth, "--format", "table"]) == 0


@pytest.mark.parametrize("command", ["drain", "stragglers"])
def test_lists_in_json_and_in_their_other_format(incidents_db_path, capsys, command):
    rows = _json(capsys, command, "--db", str(incidents_db_path), "--format", "json")
    assert isinstance(rows, list)
    other = "csv" if command == "drain" else "table"
    assert main([command, "--db", str(incidents_db_path), "--format", other]) == 0
    out = capsys.readouterr().out
    if command == "drain":
        header = next(csv.reader(io.StringIO(out)))
        assert {"gpu_id", "node_id", "reason"} <= set(header)
        assert len(out.strip().splitlines()) == len(rows) + 1


def test_a_warehouse_of_scheduler_accounting_alone_builds_and_answers(tmp_path, capsys):
    """Real sacct output and nothing else: no telemetry, so no GPU-minutes, no alerts and no stragglers, and every
    command says so instead of failing."""
    source = tmp_path / "slurm"
    shutil.copytree(SLURM, source)
    landing, db = tmp_path / "landing", tmp_path / "w.duckdb"
    assert main(["ingest", "--format", "sacct", str(source), "--landing", str(landing)]) == 0
    assert main(["build", "--landing", str(landing), "--db", str(db), "--quiet"]) == 0
    capsys.readouterr()
    assert _json(capsys, "alerts", "--db", str(db), "--format", "json") == []
    assert _json(capsys, "stragglers", "--db", str(db), "--format", "json") == []
    assert _json(capsys, "drain", "--db", str(db), "--format", "json") == []
