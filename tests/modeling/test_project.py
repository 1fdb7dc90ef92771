"""The model graph comes from parsing the SQL; every way it can be wrong is an error naming the file."""

import re
from pathlib import Path

import duckdb
import pytest
import sqlglot

from pipelines.modeling.project import (
    ALLOWED_READS,
    RETIRED_MODELS,
    ModelError,
    load_project,
    table_references,
)
from pipelines.modeling.runner import drop_retired
from pipelines.spark.folder import SparkFolder, drop_retired_folders


def write(root: Path, layer: str, name: str, sql: str) -> Path:
    path = root / layer / f"{name}.sql"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(sql)
    return path


def test_cte_names_are_not_tables():
    sql = "with jobs as (select * from raw.job_metadata), final as (select * from jobs) select * from final"
    assert table_references(sql, Path("x.sql")) == {"raw.job_metadata"}


def test_subqueries_and_joins_are_found():
    sql = (
        "select * from staging.a join (select * from staging.b) as b using (k) "
        "where exists (select 1 from intermediate.c as c where c.k = b.k)"
    )
    assert table_references(sql, Path("x.sql")) == {"staging.a", "staging.b", "intermediate.c"}


def test_a_valid_project_loads_with_parsed_dependencies(tmp_path):
    write(tmp_path, "staging", "stg_a", "select * from raw.inventory")
    write(tmp_path, "intermediate", "int_b", "with a as (select * from staging.stg_a) select * from a")
    write(tmp_path, "marts", "fct_c", "select * from intermediate.int_b join staging.stg_a using (gpu_id)")
    models = load_project(tmp_path)
    assert models["marts.fct_c"].deps == {"intermediate.int_b", "staging.stg_a"}


@pytest.mark.parametrize(
    ("layer", "name", "sql", "message"),
    [
        ("staging", "stg_x", "select * from raw.nothing", "'raw.nothing' is neither a model nor a raw table"),
        ("marts", "fct_x", "select * from raw.inventory", "a marts model may not read raw.inventory"),
        ("staging", "stg_x", "select * from marts.fct_y", "a staging model may not read marts.fct_y"),
        ("intermediate", "int_x", "select * from marts.fct_y", "may not read marts.fct_y"),  # no edge back up
        ("staging", "stg_x", "select * from inventory", "must be referenced with its schema"),
        ("staging", "stg_x", "select from where (", "SQL does not parse"),
    ],
)
def test_bad_models_are_errors_that_name_the_file(tmp_path, layer, name, sql, message):
    write(tmp_path, "marts", "fct_y", "select * from staging.stg_ok")
    write(tmp_path, "staging", "stg_ok", "select * from raw.inventory")
    path = write(tmp_path, layer, name, sql)
    with pytest.raises(ModelError, match=str(path).replace(".", r"\.")) as error:
        load_project(tmp_path)
    assert message in str(error.value)


def test_a_cycle_is_an_error(tmp_path):
    write(tmp_path, "intermediate", "int_a", "select * from intermediate.int_b")
    write(tmp_path, "intermediate", "int_b", "select * from intermediate.int_a")
    with pytest.raises(ModelError, match="dependency cycle"):
        load_project(tmp_path)


def test_the_real_project_obeys_the_layer_rule():
    models = load_project()
    assert models, "models/ is empty"
    for model in models.values():
        assert {dep.split(".")[0] for dep in model.deps} <= ALLOWED_READS[model.layer]
        assert model.sql.startswith("-- one row per"), f"{model.path}: first line states the grain"


@pytest.mark.parametrize("dialect", ["spark", "trino"])
def test_every_model_transpiles_to_a_distributed_engine(dialect):
    for model in load_project().values():
        out = sqlglot.transpile(model.sql, read="duckdb", write=dialect, unsupported_level=sqlglot.ErrorLevel.RAISE)
        assert out and out[0]


def test_no_model_uses_a_construct_only_duckdb_runs():
    """Portability is a rule of the model files: what Spark cannot run as DuckDB does is written portably (the Spark
    engine's tests run every model; this says which construct to rewrite before Spark is even started)."""
    from pipelines.spark.dialect import duckdb_only

    found = {str(m.path.name): duckdb_only(m.sql) for m in load_project().values()}
    assert {name: why for name, why in found.items() if why} == {}


@pytest.mark.parametrize(
    ("sql", "construct"),
    [
        ("select * from raw.inventory where sku similar to 'H1.*'", "SIMILAR TO"),
        ("select 1 as a union all by name select 2 as a", "UNION BY NAME"),
        (
            "select median(x) over (order by t range between interval 7 day preceding and current row) from raw.a",
            "median over a RANGE frame",
        ),
        (
            "select sum(x) over (order by t range between interval 7 day preceding and interval 1 hour preceding) "
            "from raw.a",
            "intervals of two units",
        ),
    ],
)
def test_the_duckdb_only_constructs_are_found(sql, construct):
    from pipelines.spark.dialect import duckdb_only

    assert any(construct in why for why in duckdb_only(sql))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ("materialized: snapshot", "_models.yml: stg_a: materialized: Input should be 'table' or 'view'"),
        (
            "materialized: view\n    incremental: {time_column: ts}",
            "stg_a.sql: a view is neither incremental nor parameterised",
        ),
        ("incremental: {time_colum: ts}", "_models.yml: stg_a: incremental.time_colum: Extra inputs are not permitted"),
        ("primary_keys: [gpu_id]", "_models.yml: stg_a: primary_keys: Extra inputs are not permitted"),
    ],
)
def test_a_bad_materialization_is_an_error_that_names_the_file(tmp_path, settings, message):
    path = write(tmp_path, "staging", "stg_a", "select * from raw.inventory")
    (path.parent / "_models.yml").write_text(f"models:\n  stg_a:\n    {settings}\n")
    with pytest.raises(ModelError, match=re.escape(message)):
        load_project(tmp_path)


def test_a_model_turned_into_a_view_replaces_its_table_and_back(tmp_path):
    import duckdb

    from pipelines.modeling.runner import run_model

    write(tmp_path, "staging", "stg_a", "select 1 as gpu_id union all select 2")
    con = duckdb.connect()
    kind = "select table_type from information_schema.tables where table_name = 'stg_a'"
    assert run_model(con, load_project(tmp_path)["staging.stg_a"]) == 2
    assert con.sql(kind).fetchall() == [("BASE TABLE",)]
    (tmp_path / "staging" / "_models.yml").write_text("models:\n  stg_a:\n    materialized: view\n")
    assert run_model(con, load_project(tmp_path)["staging.stg_a"]) == 2
    assert con.sql(kind).fetchall() == [("VIEW",)]
    (tmp_path / "staging" / "_models.yml").write_text("models:\n  stg_a: {}\n")
    assert run_model(con, load_project(tmp_path)["staging.stg_a"]) == 2
    assert con.sql(kind).fetchall() == [("BASE TABLE",)]


def test_a_parse_is_kept_on_disk_and_a_changed_model_is_parsed_again(tmp_path, monkeypatch):
    from pipelines.modeling import project

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    project._parse_cache.cache_clear()
    calls = []
    real = project._parse
    monkeypatch.setattr(project, "_parse", lambda sql, path: calls.append(sql) or real(sql, path))
    sql = "select * from staging.a where t >= $window_start"
    assert project.parse_model(sql, Path("x.sql")) == ({"staging.a"}, {"window_start"})
    project._parse_cache.cache_clear()  # a new process reads the file
    assert project.parse_model(sql, Path("x.sql")) == ({"staging.a"}, {"window_start"})
    assert project.parse_model(sql + " and k = 1", Path("x.sql"))[0] == {"staging.a"}
    assert len(calls) == 2 and (tmp_path / "cache" / "goodput" / "model-parses.json").exists()
    with pytest.raises(ModelError, match="y.sql: SQL does not parse"):  # errors are never kept
        project.parse_model("select from where", Path("y.sql"))
    project._parse_cache.cache_clear()


def test_a_retired_model_is_not_in_the_project():
    assert not set(RETIRED_MODELS) & set(load_project())


def test_a_build_drops_what_a_retired_model_left(tmp_path):
    con = duckdb.connect(str(tmp_path / "old.duckdb"))
    con.execute("create schema intermediate")
    con.execute("create table intermediate.int_gpu_minutes__work as select 1 as x")
    con.execute("create table intermediate.int_jobs__attempts as select 1 as x")  # a live model's table stays
    assert drop_retired(con) == ["intermediate.int_gpu_minutes__work"]
    con.execute("create view intermediate.int_gpu_minutes__work as select 1 as x")  # built as a view once
    assert drop_retired(con) == ["intermediate.int_gpu_minutes__work"]
    assert drop_retired(con) == []
    left = con.execute("select table_name from information_schema.tables where table_schema = 'intermediate'")
    assert left.fetchall() == [("int_jobs__attempts",)]


def test_a_spark_build_drops_the_folders_a_retired_model_left(tmp_path):
    folder = SparkFolder.of(tmp_path)
    for name in ("intermediate.int_gpu_minutes__work", "intermediate.int_jobs__attempts"):
        (folder.table(name) / "day=2026-03-02").mkdir(parents=True)
        (folder.table(name) / "day=2026-03-02" / "part-0.parquet").write_bytes(b"")
    assert drop_retired_folders(folder) == ["intermediate.int_gpu_minutes__work"]
    assert drop_retired_folders(folder) == []
    assert folder.tables() == ["intermediate.int_jobs__attempts"]
