"""Prometheus rules and the Grafana board come from metrics/*.yml: the committed copy is what the catalogue gives,
promtool accepts the rules, and its unit tests hold the alert thresholds and the re-aggregated ratios."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

from pipelines.monitoring.config import EXPORTED, dashboard, rules_file, write
from pipelines.semantic.catalog import load_catalog
from tests.monitoring.servers import PROMTOOL, needs_prometheus

COMMITTED = Path(__file__).parents[2] / "monitoring"


def test_the_committed_rules_and_board_are_what_the_metrics_give(tmp_path):
    for path in write(tmp_path):
        committed = COMMITTED / path.relative_to(tmp_path)
        assert committed.read_text() == path.read_text(), f"run `goodput monitoring-config`: {committed} is stale"


def test_every_page_or_ticket_threshold_of_an_exported_ratio_is_an_alert():
    alerts = {r["alert"]: r for g in rules_file()["groups"] for r in g["rules"] if "alert" in r}
    goodput = load_catalog()["goodput"]
    assert goodput.thresholds == {"ticket_below": 0.6, "page_below": 0.45}
    assert alerts["GoodputBelowPageThreshold"]["expr"] == "goodput_ratio < 0.45"
    assert alerts["GoodputBelowPageThreshold"]["labels"] == {"severity": "critical", "intent": "page"}
    assert alerts["GoodputBelowTicketThreshold"]["expr"] == "goodput_ratio < 0.6"


def test_the_board_has_the_four_views_and_reads_only_served_or_recorded_series():
    board = dashboard()
    titles = [p["title"] for p in board["panels"] if p["type"] == "row"]
    assert [t.split(":")[0] for t in titles] == ["Glance", "Scan", "Investigate", "Act"]
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    recorded = {r["record"] for g in rules_file()["groups"] for r in g["rules"] if "record" in r}
    served = {*EXPORTED.values(), "goodput_ratio", "goodput_alerts_open", "goodput_loss_gpu_seconds"}
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            assert any(name in target["expr"] for name in served | recorded), target["expr"]
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
    assert "runbooks/goodput_drop.md" in next(p for p in board["panels"] if p["type"] == "text")["options"]["content"]
    json.dumps(board)


@needs_prometheus
def test_promtool_accepts_the_rules():
    result = subprocess.run([PROMTOOL, "check", "rules", str(COMMITTED / "prometheus" / "goodput.rules.yml")],
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


# Two regions for 30 minutes: r1 at 40 % goodput (below the 45 % page threshold), r2 at 80 %. The fleet ratio
# divides sums: (40 + 160) / (100 + 200) = 0.6667, not the mean of the two ratios (0.6).
PROMTOOL_TEST = {
    "rule_files": [str(COMMITTED / "prometheus" / "goodput.rules.yml")],
    "evaluation_interval": "1m",
    "tests": [
        {
            "interval": "1m",
            "input_series": [
                {"series": 'goodput_ratio{region="r1"}', "values": "0.4x30"},
                {"series": 'goodput_ratio{region="r2"}', "values": "0.8x30"},
                {"series": 'goodput_paid_gpu_seconds{region="r1",sku="a",workload_class="batch"}', "values": "100x30"},
                {
                    "series": 'goodput_productive_gpu_seconds{region="r1",sku="a",workload_class="batch"}',
                    "values": "40x30",
                },
                {"series": 'goodput_paid_gpu_seconds{region="r2",sku="b",workload_class="batch"}', "values": "200x30"},
                {
                    "series": 'goodput_productive_gpu_seconds{region="r2",sku="b",workload_class="batch"}',
                    "values": "160x30",
                },
            ],
            "promql_expr_test": [
                {
                    "expr": "fleet:goodput_ratio",
                    "eval_time": "10m",
                    "exp_samples": [{"labels": "fleet:goodput_ratio", "value": 200 / 300}],
                },
                {
                    "expr": "sku:goodput_ratio",
                    "eval_time": "10m",
                    "exp_samples": [
                        {"labels": 'sku:goodput_ratio{sku="a"}', "value": 0.4},
                        {"labels": 'sku:goodput_ratio{sku="b"}', "value": 0.8},
                    ],
                },
            ],
            "alert_rule_test": [
                {"eval_time": "10m", "alertname": "GoodputBelowPageThreshold", "exp_alerts": []},  # not 15 min yet
                {
                    "eval_time": "20m",
                    "alertname": "GoodputBelowPageThreshold",
                    "exp_alerts": [
                        {
                            "exp_labels": {"severity": "critical", "intent": "page", "region": "r1"},
                            "exp_annotations": {
                                "summary": "Goodput in r1 is 40% (below 45%, the page threshold of metrics/)",
                                "description": load_catalog()["goodput"].description,
                                "runbook_url": "docs/runbooks/goodput_drop.md",
                            },
                        }
                    ],
                },
            ],
        }
    ],
}


@needs_prometheus
def test_promtool_unit_tests_of_the_rules(tmp_path):
    path = tmp_path / "goodput.test.yml"
    path.write_text(yaml.safe_dump(PROMTOOL_TEST, sort_keys=False))
    result = subprocess.run([PROMTOOL, "test", "rules", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
