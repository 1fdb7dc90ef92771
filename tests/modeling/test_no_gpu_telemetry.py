"""A landing with an inventory but no GPU telemetry (a scheduler's logs first, the exporters later) builds: the
minute facts are empty, not a spine over the full build's window. Session 17 found the null telemetry span let
greatest() and least() fall back on that window (1970 to 9999): a build that grew past 24 GB and was killed."""

import shutil

import duckdb

from pipelines.orchestration.build import build
from tests.fixtures.tiny_fleet import write_tiny_fleet


def test_without_gpu_telemetry_the_minute_facts_are_empty(tmp_path):
    landing = tmp_path / "landing"
    write_tiny_fleet(landing)
    shutil.rmtree(landing / "gpu_telemetry")
    build(landing, tmp_path / "w.duckdb", progress=False)
    con = duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True)
    counts = [
        con.execute(f"select count(*) from {table}").fetchone()[0]
        for table in ("marts.fct_health__node_minutes", "marts.fct_goodput__gpu_minutes")
    ]
    assert counts == [0, 0]
    assert con.execute("select count(*) from marts.dim_nodes").fetchone()[0] == 2  # the inventory still loaded
