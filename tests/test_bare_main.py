"""Great Expectations imports PySpark, and PySpark exits a process whose __main__ is bare (`python -c`, a child
spawned from `python -m`) with status 0: a build run that way lost its quality checks mid-step."""

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "code",
    [
        # the package's own import of Great Expectations, as a build's quality check does it
        "from pipelines.quality.suites import _great_expectations; _great_expectations(); print('imported')",
        # a bench step in a process spawned from `python -m`, whose __main__ is bare the same way
        "from bench.harness import _child\n"
        "import multiprocessing, pipelines.quality.suites as s\n"
        "q = multiprocessing.Queue(); _child(s._great_expectations, (), q); q.get(); print('imported')",
    ],
)
def test_a_bare_main_survives_the_import(code):
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "imported" in done.stdout, done.stderr[-2000:]
