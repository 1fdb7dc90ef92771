"""One Spark session for the Spark tests (about 7 s to start), and the small fleet built on Spark once. Without Java
or PySpark the tests skip, saying so; CI installs both and must not skip."""

from __future__ import annotations

import importlib.util
import os
import shutil

import pytest

HAS_SPARK = importlib.util.find_spec("pyspark") is not None and bool(
    os.environ.get("JAVA_HOME") or shutil.which("java")
)

if os.environ.get("CI") and not HAS_SPARK:
    raise RuntimeError("CI: PySpark or Java is missing (.ci/run installs openjdk-17-jre-headless and the test extra)")


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/spark/" in str(item.fspath) and not HAS_SPARK:
            item.add_marker(pytest.mark.skip(reason="no PySpark or no Java (apt-get install openjdk-17-jre-headless)"))


@pytest.fixture(scope="session")
def spark_folder(tmp_path_factory, landing):
    """The all-incidents fleet built on Spark, as `goodput build --engine spark` builds it."""
    from pipelines.spark.build import build_spark

    root = tmp_path_factory.mktemp("spark") / "warehouse"
    build_spark(landing, root, master="local[2]", progress=False)
    return root
