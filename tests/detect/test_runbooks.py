"""Every alert rule has a runbook with the four sections a 3 a.m. reader needs, and every `goodput query` in a
runbook names metrics and dimensions that exist."""

import re
import shlex
from pathlib import Path

import pytest

from pipelines.detect.config import detection_config, health_config
from pipelines.detect.engine import BUILT_IN, rule_specs
from pipelines.detect.rulebook import DOC, with_table
from pipelines.semantic.catalog import load_catalog

RUNBOOKS = Path(__file__).parents[2] / "docs" / "runbooks"


def _rules() -> list[str]:
    return list(rule_specs())


def test_no_rule_name_is_declared_twice():
    health, detection = health_config(), detection_config()
    names = [*health.rules, *(f"{s}_trend" for s in health.trends), *detection.detectors, *BUILT_IN]
    assert len(names) == len(set(names)) == len(rule_specs())


def test_the_detection_reference_lists_every_rule_as_declared():
    text = DOC.read_text()
    assert with_table(text) == text, "docs/detection.md is stale: run python -m pipelines.detect.rulebook"
    for rule in _rules():
        assert f"| {rule} |" in text


@pytest.mark.parametrize("rule", _rules())
def test_every_rule_has_a_runbook_with_its_sections(rule):
    text = (RUNBOOKS / f"{rule}.md").read_text()
    for section in ("## Detection", "## Diagnosis", "## Resolution", "## Escalation"):
        assert section in text, f"{rule}: {section}"
    assert re.search(r"^1\. ", text, re.M), f"{rule}: numbered diagnosis checks"


def test_queries_in_runbooks_use_known_metrics_and_dimensions():
    catalog = load_catalog()
    for path in RUNBOOKS.glob("*.md"):
        for command in re.findall(r"`(goodput query [^`]+)`", path.read_text()):
            words = shlex.split(command)[2:]
            metrics = [w for w in words[: words.index(next(w for w in words if w.startswith("--")))]]
            assert all(m in catalog for m in metrics), (path.name, metrics)
            by = words[words.index("--by") + 1].split(",") if "--by" in words else []
            for metric in metrics:
                assert set(by) <= set(catalog[metric].dimensions), (path.name, metric, by)
