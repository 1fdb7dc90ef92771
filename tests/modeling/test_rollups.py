"""Rollups generated from one declaration: the models they make, their SQL on a hand-sized fact, and the errors a
wrong declaration gives (naming the file)."""

from datetime import datetime

import duckdb
import pytest

from pipelines.modeling.project import ModelError, load_project, rollups_from
from pipelines.semantic.losses import REASONS

BASE = "  fct_f:\n    incremental: {time_column: minute_at}\n"
KEEPS = "    rollup: {slices: [team], sums: [paid_gpu_min, loss_after_checkpoint_gpu_min]}\n"
FIVE = "  fct_f__5min:\n    rollup_of: {model: marts.fct_f, every: 5min}\n"
HOUR = "  fct_f__hourly:\n    rollup_of: {model: marts.fct_f__5min, every: hour}\n"
LOSSES = ", ".join(f"0.0 as {r.column}" for r in REASONS if not r.failure_cause)


def project(tmp_path, models_yml: str, sql_files: tuple[str, ...] = ("fct_f",)):
    marts = tmp_path / "marts"
    marts.mkdir(parents=True, exist_ok=True)
    (marts / "_models.yml").write_text("models:\n" + models_yml)
    for name in sql_files:
        (marts / f"{name}.sql").write_text(
            "-- one row per minute\nselect minute_at, team, paid_gpu_min, loss_after_checkpoint_gpu_min, "
            f"failure_family, {LOSSES} from staging.stg_x where minute_at >= $window_start and minute_at < $window_end"
        )
    (tmp_path / "staging").mkdir(exist_ok=True)
    (tmp_path / "staging" / "stg_x.sql").write_text("-- one row per minute\nselect * from raw.inventory")
    from pipelines.modeling import project as module

    module.declared_rollups.cache_clear()
    return load_project(tmp_path)


def test_a_chain_of_rollups_is_generated_and_found_from_its_root(tmp_path):
    models = project(tmp_path, BASE + KEEPS + FIVE + HOUR)
    assert models["marts.fct_f__5min"].deps == {"marts.fct_f"}
    assert models["marts.fct_f__hourly"].deps == {"marts.fct_f__5min"}
    assert models["marts.fct_f__hourly"].params == {"window_start", "window_end"}
    assert rollups_from("marts.fct_f", tmp_path) == (
        ("team",),
        {"5min": "marts.fct_f__5min", "hour": "marts.fct_f__hourly"},
    )


def test_the_generated_sql_sums_by_bucket_and_splits_lost_work_by_cause(tmp_path):
    models = project(tmp_path, BASE + KEEPS + FIVE + HOUR)
    con = duckdb.connect()
    con.execute("create schema marts")
    rows = [  # minute, team, paid, lost after a failure, its cause
        ("2026-03-02 10:01", "t1", 1.0, 0.5, "hardware"),
        ("2026-03-02 10:04", "t1", 1.0, 0.25, "user"),
        ("2026-03-02 10:06", "t1", 1.0, 0.0, None),
        ("2026-03-02 10:02", "t2", 1.0, 1.0, "hardware"),
    ]
    con.execute(
        "create table marts.fct_f as select minute_at::timestamp as minute_at, team, paid_gpu_min, "
        f"loss_after_checkpoint_gpu_min, failure_family, {LOSSES} from (values "
        + ", ".join("(?, ?, ?, ?, ?)" for _ in rows)
        + ") as v(minute_at, team, paid_gpu_min, loss_after_checkpoint_gpu_min, failure_family)",
        [v for row in rows for v in row],
    )
    window = {"window_start": datetime(2026, 3, 2), "window_end": datetime(2026, 3, 3)}
    con.execute(f"create table marts.fct_f__5min as {models['marts.fct_f__5min'].sql}", window)
    five = con.execute(
        "select bucket_at::varchar, team, paid_gpu_min, loss_failed_hardware_gpu_min, loss_failed_user_gpu_min "
        "from marts.fct_f__5min order by 1, 2"
    ).fetchall()
    assert five == [
        ("2026-03-02 10:00:00", "t1", 2.0, 0.5, 0.25),
        ("2026-03-02 10:00:00", "t2", 1.0, 1.0, 0.0),
        ("2026-03-02 10:05:00", "t1", 1.0, 0.0, 0.0),
    ]
    hourly = con.execute(
        f"select team, paid_gpu_min, loss_failed_hardware_gpu_min from ({models['marts.fct_f__hourly'].sql}) "
        "order by 1",
        window,
    ).fetchall()
    assert hourly == [("t1", 3.0, 0.5), ("t2", 1.0, 1.0)]


@pytest.mark.parametrize(
    ("yml", "files", "message"),
    [
        (BASE + FIVE, ("fct_f",), "declares rollup: {slices"),
        (BASE + KEEPS + FIVE.replace("5min}", "minute}"), ("fct_f",), "rollup_of.every: Input should be"),
        (BASE + KEEPS + FIVE.replace("marts.fct_f,", "marts.fct_nothing,"), ("fct_f",), "is no model"),
        (BASE + KEEPS + FIVE, ("fct_f", "fct_f__5min"), "one or the other"),
        ("  fct_f:\n" + KEEPS + FIVE, ("fct_f",), "incremental with a time_column"),
    ],
)
def test_a_wrong_declaration_is_an_error_naming_the_file(tmp_path, yml, files, message):
    with pytest.raises(ModelError, match=message) as error:
        project(tmp_path, yml, files)
    assert "_models.yml" in str(error.value) or ".sql" in str(error.value)
