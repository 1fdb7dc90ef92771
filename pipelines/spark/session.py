"""One local Spark session per process, set up so that Spark computes what DuckDB computes.

TIMESTAMP means a wall clock without a zone on both engines (Spark's TIMESTAMP_NTZ), read and written in UTC; the UI
and the console progress bars are off; shuffles start wide and adaptive execution merges what is small.
"""

from __future__ import annotations

import os
import shutil

SESSION_MASTER = "local[2]"
MEMORY = os.environ.get("GOODPUT_SPARK_MEMORY", "6g")
# shuffles of a week of the default fleet ran out of a 4 GB driver's hash maps with 4 partitions; adaptive execution
# coalesces the many small ones of a small run
SHUFFLE_PARTITIONS = int(os.environ.get("GOODPUT_SPARK_SHUFFLE_PARTITIONS", "64"))


class SparkUnavailable(RuntimeError):
    """Spark cannot start on this machine; the message says what to install."""


def spark_session(master: str = SESSION_MASTER):
    """The process' Spark session on `master` (a session on another master is stopped first: the JVM's
    settings, its memory and cores, are fixed when it starts)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise SparkUnavailable("the Spark engine needs PySpark: pip install -e '.[spark]'") from None
    if not (os.environ.get("JAVA_HOME") or shutil.which("java")):
        raise SparkUnavailable("the Spark engine needs Java 17 or newer: apt-get install openjdk-17-jre-headless")
    active = SparkSession.getActiveSession()
    if active is not None:
        if active.sparkContext.master == master:
            return active
        active.stop()
    cores = _cores(master)
    builder = SparkSession.builder.master(master).appName("goodput")
    settings = {
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.timestampType": "TIMESTAMP_NTZ",
        "spark.driver.extraJavaOptions": "-Duser.timezone=UTC",
        "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
        "spark.sql.shuffle.partitions": str(SHUFFLE_PARTITIONS),
        "spark.sql.adaptive.enabled": "true",
        "spark.sql.adaptive.coalescePartitions.enabled": "true",
        "spark.default.parallelism": str(max(2, 2 * cores)),
        "spark.driver.memory": MEMORY,
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        "spark.sql.sources.parallelPartitionDiscovery.threshold": "1000000",
    }
    for key, value in settings.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def _cores(master: str) -> int:
    inside = master[master.find("[") + 1 : master.find("]")] if "[" in master else "1"
    return os.cpu_count() or 2 if inside == "*" else int(inside) if inside.isdigit() else 2
