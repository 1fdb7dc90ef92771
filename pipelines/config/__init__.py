"""User-editable configuration (YAML), validated on load."""

from __future__ import annotations

from typing import Any

import yaml

# libyaml's parser where PyYAML was built with it: the 5-minute tick reads its configs every time, about ten times
# faster than the pure-Python parser; same safe constructor (anchors and merge keys included), same errors
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_LOADER)  # noqa: S506 (a safe loader)
