"""What an alert of a built-in rule says and does, declared beside the rule (health rules and statistical detectors
declare the same in their YAML files)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RuleSpec:
    severity: str  # info, warning or critical
    intent: str  # page, ticket or dashboard
    family: str  # the loss family it names (pipelines.semantic.losses)
    summary: str  # a template over the alert's value and baseline
    action: str = "notify"  # what the drain list does with its GPUs
