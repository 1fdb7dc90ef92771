"""Detection settings are typed: a misspelt or out-of-range key fails when the file is loaded, naming the file and
the key, not at the first tick that reads it."""

import re
from pathlib import Path

import pytest
import yaml

from pipelines.detect.config import CONFIG_DIR, ConfigError, detection_config

SHIPPED = yaml.safe_load((CONFIG_DIR / "detection.yml").read_text())


def _written(tmp_path: Path, change) -> Path:
    data = yaml.safe_load((CONFIG_DIR / "detection.yml").read_text())
    change(data)
    path = tmp_path / "detection.yml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda d: d["stragglers"].update(step_ratoi=1.2), "stragglers.step_ratoi"),
        (lambda d: d["cohort"].update(spread_ratio=0.5), "cohort.spread_ratio"),
        (lambda d: d["gaming"].pop("min_gpu_minutes"), "gaming.min_gpu_minutes"),
        (lambda d: d["stragglers"].update(step_persistence_samples="six"), "stragglers.step_persistence_samples"),
    ],
)
def test_a_bad_setting_names_its_file_and_key(tmp_path, change, where):
    path = _written(tmp_path, change)
    with pytest.raises(ConfigError, match=re.escape(f"{path}: {where}:")):
        detection_config.__wrapped__(path)


def test_the_shipped_settings_load():
    config = detection_config()
    assert config.stragglers.step_ratio == SHIPPED["stragglers"]["step_ratio"]
    assert config.cohort.horizon_h == SHIPPED["cohort"]["horizon_h"]
