"""`goodput build --engine spark` gives the warehouse DuckDB gives: every model, row for row; a Spark tick gives
the rows of a full Spark rebuild; the semantic layer answers the same on both engines."""

from __future__ import annotations

import shutil

import duckdb
import polars as pl
import pyarrow.parquet as pq
import pytest

from pipelines.explain.decompose import DIMENSIONS
from pipelines.modeling.project import build_order, load_project
from pipelines.semantic.query import query
from pipelines.spark.folder import SparkFolder, parquet_files
from pipelines.warehouse.layout import working_path
from tests.fixtures.factors import FACTORS, worst_identity_gap
from tests.fixtures.split_landing import CUT, first_part, second_part
from tests.spark.equality import files_sql, mismatches

MODELS = load_project()
TABLES = [name for name in build_order(MODELS) if MODELS[name].materialized == "table"]
VIEWS = [name for name in build_order(MODELS) if MODELS[name].materialized == "view"]


@pytest.fixture(scope="module")
def both(incidents_db_path, spark_folder):
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    con.execute(f"attach '{working_path(incidents_db_path)}' as duck (read_only)")
    yield con, SparkFolder.of(spark_folder)
    con.close()


def test_every_model_ran_on_spark(both):
    _, folder = both
    assert not [name for name in TABLES if not parquet_files(folder.table(name))]
    assert folder.state()["engine"] == "spark"


@pytest.mark.parametrize("table", TABLES)
def test_every_table_equals_duckdb(both, table):
    con, folder = both
    assert mismatches(con, f"duck.{table}", parquet_files(folder.table(table)), _key(table)) == []


def test_every_view_equals_duckdb(both, tmp_path):
    from pipelines.spark.build import open_folder

    con, folder = both
    spark = open_folder(folder.root)
    for view in VIEWS:
        out = tmp_path / view
        spark.table(view).write.parquet(str(out))
        assert mismatches(con, f"duck.{view}", parquet_files(out), _key(view)) == [], view


def test_the_factor_identity_holds_in_the_spark_rows(spark_folder):
    """The rollups store sums; the semantic layer divides them on Spark too, per slice of every dimension."""
    frame = query(FACTORS, by=list(DIMENSIONS), grain="hour", engine="spark", warehouse=spark_folder)
    assert len(frame) > 0 and worst_identity_gap(frame) < 1e-12


def test_a_changed_value_is_a_mismatch(both, tmp_path):
    """The comparison can fail: one ratio moved by a millionth is found."""
    con, folder = both
    table = pq.read_table(parquet_files(folder.table("marts.fct_goodput__daily")))
    frame = pl.from_arrow(table).with_row_index()
    moved = frame.filter(pl.col("productive_gpu_min") > 0)["index"][0]
    frame = frame.with_columns(
        pl.when(pl.col("index") == moved)
        .then(pl.col("productive_gpu_min") * (1 + 1e-6))
        .otherwise(pl.col("productive_gpu_min"))
    ).drop("index")
    frame.write_parquet(tmp_path / "changed.parquet")
    found = mismatches(con, "duck.marts.fct_goodput__daily", [str(tmp_path / "changed.parquet")], [])
    assert found and "productive_gpu_min" in found[0]


def test_the_semantic_layer_answers_the_same_on_both_engines(incidents_db_path, spark_folder):
    asked = {"metrics": ["goodput", "availability"], "by": ["region", "team"], "grain": "hour"}
    duck = query(**asked, db=incidents_db_path)
    spark = query(**asked, engine="spark", warehouse=spark_folder)
    assert duck.height > 0 and duck.columns == spark.columns and duck.height == spark.height
    for column in ("goodput", "availability"):
        a, b = duck[column].to_list(), spark[column].to_list()
        assert all(
            (x is None and y is None) or abs(x - y) <= 1e-9 * max(abs(x), abs(y), 1e-3)
            for x, y in zip(a, b, strict=True)
        )


@pytest.fixture(scope="module")
def ticked(tmp_path_factory, landing):
    """A Spark warehouse built from the data before CUT, then ticked once with the rest landed as new files."""
    from pipelines.spark.build import build_spark, tick_spark

    root = tmp_path_factory.mktemp("spark_tick")
    split = root / "landing"
    first_part(landing, split, CUT)
    build_spark(split, root / "warehouse", progress=False)
    second_part(landing, split, CUT)
    run = tick_spark(split, root / "warehouse")
    return SparkFolder.of(root / "warehouse"), run


def test_a_tick_recomputes_only_its_window(ticked):
    _, run = ticked
    assert run.window is not None and run.window[0] <= CUT
    assert sum(load.new_files for load in run.loads) > 0


def test_a_spark_tick_equals_a_full_spark_rebuild(ticked, spark_folder):
    folder, _ = ticked
    full = SparkFolder.of(spark_folder)
    con = duckdb.connect()
    differing = {}
    for table in TABLES:
        con.execute(f"create or replace view full_table as select * from {files_sql(parquet_files(full.table(table)))}")
        found = mismatches(con, "full_table", parquet_files(folder.table(table)), _key(table))
        if found:
            differing[table] = found
    assert differing == {}


def _key(table: str) -> list[str]:
    return list(MODELS[table].config.get("primary_key") or [])


ALERT_FACTS = "alert_id, incident_id, rule, severity, family, region, scope, started_at, detected_at, resolved_at"


def test_detection_on_the_spark_marts_raises_the_alerts_duckdb_raises(incidents_db_path, spark_folder):
    """The Spark warehouse's DuckDB face (`<warehouse>/goodput.duckdb`) holds the alert log detection writes over
    the Spark marts: the same alerts, with the same values, as the DuckDB build's."""
    duck = duckdb.connect(str(incidents_db_path), read_only=True)
    face = duckdb.connect(str(spark_folder / "goodput.duckdb"), read_only=True)
    listed = f"select {ALERT_FACTS}, round(value, 9), round(baseline, 9) from alerts.alerts order by all"
    expected = duck.execute(listed).fetchall()
    assert expected and face.execute(listed).fetchall() == expected
    count = "select count(*) from marts.fct_goodput__5min"
    assert face.execute(count).fetchall() == duck.execute(count).fetchall()


def test_explain_reads_the_spark_warehouse(spark_folder, capsys):
    from pipelines.cli import main

    assert main(["explain", "--db", str(spark_folder / "goodput.duckdb"), "--format", "json"]) == 0
    assert '"largest_fault_family"' in capsys.readouterr().out


def test_a_spark_build_that_quarantines_much_of_a_source_fails_naming_it(tmp_path, capsys):
    """The same contracts as on DuckDB: the tiny fleet's GPU telemetry landed twice, half of it quarantined as
    duplicates, and the build exits 1 naming the source and the reason; nothing is dropped."""
    from pipelines.cli import main
    from tests.fixtures.tiny_fleet import write_tiny_fleet

    landing = tmp_path / "landing"
    write_tiny_fleet(landing)
    (original,) = (landing / "gpu_telemetry").rglob("*.parquet")
    shutil.copy(original, original.with_name("again.parquet"))
    warehouse = tmp_path / "spark"
    assert (
        main(["build", "--engine", "spark", "--landing", str(landing), "--warehouse", str(warehouse), "--quiet"]) == 1
    )
    err = capsys.readouterr().err
    assert "error: gpu_telemetry: 50.0% of" in err and "top reasons: duplicate key" in err
    with duckdb.connect(str(warehouse / "goodput.duckdb"), read_only=True) as con:
        quarantined = con.execute("select count(*) from raw._quarantine where source = 'gpu_telemetry'").fetchone()[0]
        accepted = con.execute("select count(*) from raw.gpu_telemetry").fetchone()[0]
    assert quarantined == accepted > 0
