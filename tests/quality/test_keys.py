"""Every declared primary key is an asset check, holds on the built fleet, and catches a doubled row and a null key."""

from datetime import timedelta

import duckdb
from dagster import AssetKey

from pipelines.modeling.project import load_project
from pipelines.quality import keys
from pipelines.quality.checks import QUALITY_CHECKS
from pipelines.quality.keys import key_violations
from pipelines.warehouse.layout import working_path
from pipelines.warehouse.publish import clone

MODELS = load_project()
KEYED = [m for m in MODELS.values() if m.config.get("primary_key")]


def test_every_declared_key_has_its_check():
    checked = {key.asset_key for check in QUALITY_CHECKS for key in check.check_keys if key.name == "primary_key"}
    assert checked == {AssetKey([m.layer, m.name]) for m in KEYED}
    assert len(KEYED) >= 40


def test_every_key_holds_on_the_built_fleet(incidents_db_path):
    with duckdb.connect(str(working_path(incidents_db_path)), read_only=True) as con:
        broken = {
            m.table: found for m in KEYED if (found := key_violations(con, m))["duplicated_keys"] or found["null_keys"]
        }
    assert broken == {}


def test_a_doubled_row_and_a_null_key_are_found(incidents_db_path, tmp_path):
    db = tmp_path / "w.duckdb"
    clone(incidents_db_path, db)
    with duckdb.connect(str(working_path(db))) as con:
        con.execute(
            "insert into intermediate.int_jobs__attempts select * from intermediate.int_jobs__attempts "
            "order by job_id, attempt limit 2"
        )
        con.execute("insert into marts.dim_teams select * replace (null as team) from marts.dim_teams limit 1")
        attempts = key_violations(con, MODELS["intermediate.int_jobs__attempts"])
        teams = key_violations(con, MODELS["marts.dim_teams"])
        first = con.execute(
            "select job_id, attempt from intermediate.int_jobs__attempts order by all limit 1"
        ).fetchall()
    assert attempts["duplicated_keys"] == 2 and attempts["null_keys"] == 0
    assert [str(first[0][0]), str(first[0][1]), "2"] in attempts["sample"]
    assert teams["null_keys"] == 1 and teams["duplicated_keys"] == 0


def test_a_time_incremental_model_is_checked_over_its_newest_day(incidents_db_path, tmp_path, monkeypatch):
    monkeypatch.setattr(keys, "NEWEST", timedelta(hours=6))  # the fleet holds one day
    db = tmp_path / "w.duckdb"
    clone(incidents_db_path, db)
    model = MODELS["marts.fct_goodput__gpu_minutes"]
    with duckdb.connect(str(working_path(db))) as con:
        total = con.execute("select count(*) from marts.fct_goodput__gpu_minutes").fetchall()[0][0]
        # a doubled minute more than 6 hours before the newest is not read by the check; one in the newest is
        con.execute(
            "insert into marts.fct_goodput__gpu_minutes select * from marts.fct_goodput__gpu_minutes "
            "where minute_at = (select min(minute_at) from marts.fct_goodput__gpu_minutes) limit 1"
        )
        old = key_violations(con, model)
        con.execute(
            "insert into marts.fct_goodput__gpu_minutes select * from marts.fct_goodput__gpu_minutes "
            "where minute_at = (select max(minute_at) from marts.fct_goodput__gpu_minutes) limit 1"
        )
        new = key_violations(con, model)
    assert old["duplicated_keys"] == 0 and old["rows_checked"] < total
    assert new["duplicated_keys"] == 1
