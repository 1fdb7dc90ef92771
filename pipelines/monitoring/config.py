"""Prometheus rules and a Grafana dashboard for goodput's KPIs, generated from metrics/*.yml (one source of truth).

Every metric of the catalogue whose numerator and denominator the exporter serves gets recording rules (the ratio
per SKU, per workload class and for the fleet, dividing sums) and, where it has page or ticket thresholds, alerting
rules. `goodput monitoring-config --out monitoring/` writes them; a test keeps the committed copy equal to what the
catalogue gives and runs `promtool check rules` and `promtool test rules` on it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import yaml

from pipelines.project_files import project_dir
from pipelines.semantic.catalog import Metric, load_catalog
from pipelines.semantic.losses import FAULT_FAMILIES

EXPORTED = {  # catalogue measure -> exported metric (GPU-seconds per region, SKU and workload class)
    f"{m}_gpu_min": f"goodput_{m}_gpu_seconds" for m in ("paid", "healthy", "allocated", "retained", "productive")
}
LEVELS = {"sku": "sku", "workload_class": "workload_class", "fleet": None}
FOR = "15m"  # as long as detection's persistence: a 5-minute dip is no page
# where on-call opens a runbook: set it to where your copy of docs/runbooks is served before generating
RUNBOOKS = os.environ.get("GOODPUT_RUNBOOK_URL", "docs/runbooks")
DASHBOARD_UID = "goodput-cluster-health"


def exported_ratios(catalog: dict[str, Metric] | None = None) -> list[Metric]:
    catalog = catalog or load_catalog()
    return [m for m in catalog.values() if m.type == "ratio" and m.numerator in EXPORTED and m.denominator in EXPORTED]


def _ratio_metric(metric: Metric) -> str:
    """The exporter's per-region ratio of a catalogue metric (goodput -> goodput_ratio, availability ->
    goodput_availability_ratio)."""
    return "goodput_ratio" if metric.name == "goodput" else f"goodput_{metric.name}_ratio"


def recording_rules(metrics: list[Metric]) -> list[dict]:
    rules = []
    for metric in metrics:
        numerator, denominator = EXPORTED[metric.numerator], EXPORTED[metric.denominator]
        for level, label in LEVELS.items():
            by = f" by ({label})" if label else ""
            rules.append(
                {
                    "record": f"{level}:{_ratio_metric(metric)}",
                    "expr": f"sum{by} ({numerator}) / sum{by} ({denominator})",
                }
            )
    return rules


def alerting_rules(metrics: list[Metric]) -> list[dict]:
    rules = []
    for metric in metrics:
        for key, value in sorted(metric.thresholds.items()):
            intent, _, direction = key.partition("_")
            if intent not in ("page", "ticket") or direction not in ("below", "above"):
                continue
            operator = "<" if direction == "below" else ">"
            rules.append(
                {
                    "alert": f"{_camel(metric.name)}{_camel(direction)}{_camel(intent)}Threshold",
                    "expr": f"{_ratio_metric(metric)} {operator} {value:g}",
                    "for": FOR,
                    "labels": {"severity": "critical" if intent == "page" else "warning", "intent": intent},
                    "annotations": {
                        "summary": f"{metric.label} in {{{{ $labels.region }}}} is "
                        f"{{{{ $value | humanizePercentage }}}} ({direction} {value:.0%}, the {intent} threshold of "
                        "metrics/)",
                        "description": metric.description,
                        "runbook_url": f"{RUNBOOKS}/goodput_drop.md",
                    },
                }
            )
    return rules


def rules_file(catalog: dict[str, Metric] | None = None) -> dict:
    metrics = exported_ratios(catalog)
    return {
        "groups": [
            {"name": "goodput.recording", "interval": "1m", "rules": recording_rules(metrics)},
            {"name": "goodput.alerts", "rules": alerting_rules(metrics)},
        ]
    }


def dashboard(catalog: dict[str, Metric] | None = None) -> dict:
    """The cluster-health board: glance (status per family), scan (12 hours of goodput and its factors),
    investigate (by region, SKU and class), act (runbooks)."""
    metrics = exported_ratios(catalog)
    panels, y = [], 0
    panels.append(_row("Glance: what is open, per fault family", y))
    y += 1
    for index, family in enumerate((*FAULT_FAMILIES, "workload")):
        expr = f'sum(goodput_alerts_open{{family="{family}",intent="page"}}) or vector(0)'
        panels.append(_stat(family.replace("_", " "), expr, {"x": index * 4, "y": y, "w": 4, "h": 4}))
    y += 4
    panels.append(_row("Scan: the last 12 hours", y))
    y += 1
    targets = [
        {"expr": f"fleet:{_ratio_metric(m)}", "legendFormat": m.label, "refId": chr(65 + i)}
        for i, m in enumerate(metrics)
    ]
    panels.append(_timeseries("Goodput and its factors (fleet)", targets, {"x": 0, "y": y, "w": 24, "h": 8}))
    y += 8
    panels.append(_row("Investigate: by region, SKU and workload class", y))
    y += 1
    for index, (title, expr, legend) in enumerate(
        (
            ("Goodput by region", "goodput_ratio", "{{region}}"),
            ("Goodput by SKU", "sku:goodput_ratio", "{{sku}}"),
            ("Goodput by workload class", "workload_class:goodput_ratio", "{{workload_class}}"),
        )
    ):
        target = [{"expr": expr, "legendFormat": legend, "refId": "A"}]
        panels.append(_timeseries(title, target, {"x": index * 8, "y": y, "w": 8, "h": 8}))
    y += 8
    loss = [{"expr": "sum by (family) (goodput_loss_gpu_seconds) / 3600", "legendFormat": "{{family}}", "refId": "A"}]
    panels.append(_timeseries("GPU-hours lost per 5 minutes, by family", loss, {"x": 0, "y": y, "w": 24, "h": 8}))
    y += 8
    panels.append(_row("Act: runbooks", y))
    panels.append(
        {
            "type": "text",
            "title": "Runbooks",
            "gridPos": {"x": 0, "y": y + 1, "w": 24, "h": 6},
            "options": {"mode": "markdown", "content": _runbook_links()},
        }
    )
    for index, panel in enumerate(panels, start=1):
        panel["id"] = index
    return {
        "uid": DASHBOARD_UID,
        "title": "goodput: cluster health",
        "tags": ["goodput"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "1m",
        "time": {"from": "now-12h", "to": "now"},
        "templating": {
            "list": [{"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Prometheus"}]
        },
        "panels": panels,
    }


def _datasource() -> dict:
    return {"type": "prometheus", "uid": "${datasource}"}


def _row(title: str, y: int) -> dict:
    return {
        "type": "row",
        "title": title,
        "collapsed": False,
        "gridPos": {"x": 0, "y": y, "w": 24, "h": 1},
        "panels": [],
    }


def _stat(title: str, expr: str, grid: dict) -> dict:
    steps = [{"color": "green", "value": None}, {"color": "red", "value": 1}]
    return {
        "type": "stat",
        "title": title,
        "datasource": _datasource(),
        "gridPos": grid,
        "targets": [{"expr": expr, "refId": "A", "datasource": _datasource()}],
        "fieldConfig": {"defaults": {"thresholds": {"mode": "absolute", "steps": steps}, "unit": "none"}},
        "options": {"colorMode": "background", "reduceOptions": {"calcs": ["lastNotNull"]}},
    }


def _timeseries(title: str, targets: list[dict], grid: dict) -> dict:
    return {
        "type": "timeseries",
        "title": title,
        "datasource": _datasource(),
        "gridPos": grid,
        "targets": [{**t, "datasource": _datasource()} for t in targets],
        "fieldConfig": {"defaults": {"unit": "percentunit" if "ratio" in targets[0]["expr"] else "short"}},
    }


def _runbook_links() -> str:
    folder = project_dir("docs", "runbooks")
    names = sorted(p.stem for p in folder.glob("*.md"))
    return "\n".join(f"- [{name}]({RUNBOOKS}/{name}.md)" for name in names)


def _camel(text: str) -> str:
    return "".join(part.capitalize() for part in text.split("_"))


PROVISIONING = {
    "apiVersion": 1,
    "providers": [
        {
            "name": "goodput",
            "type": "file",
            "folder": "goodput",
            "options": {"path": "/etc/grafana/dashboards/goodput", "foldersFromFilesStructure": False},
        }
    ],
}


def write(out: Path) -> list[Path]:
    """The rules, the dashboard and Grafana's provisioning file, into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    header = "# Generated by `goodput monitoring-config` from metrics/*.yml: edit the metrics, not this file.\n"
    files = {
        out / "prometheus" / "goodput.rules.yml": header + yaml.safe_dump(rules_file(), sort_keys=False, width=120),
        out / "grafana" / "goodput-cluster-health.json": json.dumps(dashboard(), indent=2) + "\n",
        out / "grafana" / "provisioning.yml": header + yaml.safe_dump(PROVISIONING, sort_keys=False),
    }
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return list(files)
