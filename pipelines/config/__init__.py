"""User-editable configuration (YAML), validated on load."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import yaml

# libyaml's parser where PyYAML was built with it: the 5-minute tick reads its configs every time, about ten times
# faster than the pure-Python parser; same safe constructor (anchors and merge keys included), same errors
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_LOADER)  # noqa: S506 (a safe loader)


_SPAN = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?$")


def parse_span(text: str) -> timedelta:
    """'1d6h', '90m', '3h' -> timedelta: the durations of scenarios and of detection windows."""
    match = _SPAN.match(str(text).strip())
    if not match or not any(match.groups()):
        raise ValueError(f"'{text}' is not a duration like 90m, 3h or 1d6h")
    days, hours, minutes = (int(g or 0) for g in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes)
