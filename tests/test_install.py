"""A non-editable install (`pip install .`) works from any folder: the models, metrics and runbooks travel inside
the package, and a build from another folder reads them there, not from a checkout."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = """name: tiny
seed: 3
start: 2026-03-02T00:00:00Z
days: 1
fleet: {gpus: 24, nodes: 3, regions: [r1]}
"""
# a script, not `python -c`: PySpark, which Great Expectations imports, exits a `-c` process on import
RUN = """
import pipelines
from pipelines.cli import main
from pipelines.modeling.project import MODELS_DIR
from pipelines.semantic.catalog import METRICS_DIR
from pipelines.reports.run import RUNBOOKS

print(pipelines.__file__, MODELS_DIR, METRICS_DIR, RUNBOOKS, sep="\\n")
assert main(["simulate", "--scenario", "tiny.yml", "--out", "landing", "--quiet"]) == 0
assert main(["build", "--landing", "landing", "--db", "g.duckdb", "--quiet"]) == 0
assert main(["query", "goodput", "--db", "g.duckdb", "--grain", "day", "--format", "json"]) == 0
"""


def test_an_installed_package_builds_from_another_folder(tmp_path):
    target, elsewhere, source = tmp_path / "site", tmp_path / "elsewhere", tmp_path / "source"
    elsewhere.mkdir()
    # a copy of what a release holds, so that the build's own folders stay out of the checkout
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for name in ("pipelines", "bench", "models", "metrics", "docs"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "_shipped"))
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(source)],
        check=True,
        cwd=tmp_path,
    )
    (elsewhere / "tiny.yml").write_text(SCENARIO)
    (elsewhere / "run.py").write_text(RUN)
    env = {**os.environ, "PYTHONPATH": str(target)}  # ahead of the editable install of this checkout
    done = subprocess.run([sys.executable, "run.py"], cwd=elsewhere, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    where = done.stdout.splitlines()[:4]
    assert where[0] == str(target / "pipelines" / "__init__.py")
    shipped = target / "pipelines" / "_shipped"
    assert where[1:] == [str(shipped / "models"), str(shipped / "metrics"), str(shipped / "docs" / "runbooks")]
    assert '"goodput"' in done.stdout
