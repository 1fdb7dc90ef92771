"""Data-quality suites: `models/_expectations.yml` read as Great Expectations expectations and run on the newest
partition of each table. GX's SQL route to DuckDB is broken upstream (every expectation fails), so the partition is
pulled from DuckDB as Arrow and handed to GX as a pandas DataFrame, the route that works. Results land in
`quality.expectation_results`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
from sqlglot import exp

from pipelines.bare_main import main_with_a_file
from pipelines.config import read_yaml
from pipelines.ingest.load import MANIFEST
from pipelines.project_files import project_dir
from pipelines.warehouse.connection import table_exists

SUITES = project_dir("models") / "_expectations.yml"
RESULTS = "quality.expectation_results"
TIME_SOURCES = ("raw.gpu_telemetry", "raw.node_telemetry", "raw.scheduler_events", "raw.job_runtime_metrics")
OWN_KEYS = {"expect", "value_set_from", "fresh_within_minutes"}
NOT_CONNECTED = "source not connected"


class SuiteError(ValueError):
    """A suite that names an unknown expectation, table or column."""


@dataclass
class Suite:
    table: str
    expectations: list[dict[str, Any]]
    time_column: str | None = None
    hours: float | None = None
    with_sku: bool = False
    results: list[dict] = field(default_factory=list)


def load_suites(path: Path = SUITES) -> dict[str, Suite]:
    data = read_yaml(path.read_text()) or {}
    suites = {}
    for table, spec in data.items():
        partition = spec.get("partition") or {}
        expectations = spec.get("expectations") or []
        for index, item in enumerate(expectations):
            if not isinstance(item, dict) or "expect" not in item:
                raise SuiteError(f"{path}: {table}.expectations.{index}: no 'expect'")
        suites[table] = Suite(
            table, expectations, partition.get("time_column"), partition.get("hours"), bool(spec.get("with_sku"))
        )
    return suites


def _great_expectations():
    """Great Expectations, imported where suites run (3-4 s), safely in any process (see `bare_main`)."""
    with main_with_a_file():
        import great_expectations
        import great_expectations.expectations
    return great_expectations


def _expectation_class(name: str, where: str = ""):
    gxe = _great_expectations().expectations

    class_name = "Expect" + "".join(part.capitalize() for part in name.split("_"))
    found = getattr(gxe, class_name, None)
    if found is None:
        raise SuiteError(f"{where}: unknown expectation '{name}' (Great Expectations has no {class_name})")
    return found


def partition(con: duckdb.DuckDBPyConnection, suite: Suite) -> pl.DataFrame:
    """The newest `hours` of the table (by its time column), with each GPU's SKU when asked."""
    table = exp.to_table(suite.table)
    query = exp.select("t.*").from_(table.as_("t"))
    params: list = []
    if suite.time_column:
        column = exp.column(suite.time_column, table="t")
        newest = exp.select(exp.Max(this=exp.column(suite.time_column))).from_(exp.to_table(suite.table))
        minutes = exp.Anonymous(
            this="to_minutes", expressions=[exp.Cast(this=exp.Placeholder(), to=exp.DataType.build("BIGINT"))]
        )
        since = exp.Sub(this=newest.subquery(), expression=minutes)
        query = query.where(column >= since)
        params.append(int(suite.hours * 60))
    if suite.with_sku:
        skus = (
            exp.select("gpu_id", exp.Max(this=exp.column("sku")).as_("sku")).from_("raw.inventory").group_by("gpu_id")
        )
        query = query.select("i.sku").join(skus.subquery("i"), on="i.gpu_id = t.gpu_id", join_type="left")
    return con.sql(query.sql("duckdb"), params=params or None).pl()


def _newest_data(con) -> datetime | None:
    ends = []
    for table in TIME_SOURCES:
        column = {"raw.scheduler_events": "event_at"}.get(table, "ts")
        found = con.execute(f"select max({column}) from {table}").fetchall()[0][0]
        if found is not None:
            ends.append(found)
    return max(ends) if ends else None


def _kwargs(con, item: dict, frame: pl.DataFrame) -> dict:
    kwargs = {k: v for k, v in item.items() if k not in OWN_KEYS}
    if "value_set_from" in item:
        # only the referenced values the partition uses: the same verdict, and a set GX checks in seconds less
        table, _, column = item["value_set_from"].rpartition(".")
        used = frame[item["column"]].drop_nulls().unique().to_list()
        found = exp.select(exp.column(column)).distinct().from_(exp.to_table(table))
        found = found.where(exp.column(column).isin(query=exp.select(exp.Unnest(expressions=[exp.Placeholder()]))))
        values = con.sql(found.sql("duckdb"), params=[used]).fetchall()
        kwargs["value_set"] = [v[0] for v in values if v[0] is not None]
    if "fresh_within_minutes" in item:
        newest = _newest_data(con)
        kwargs["min_value"] = newest - timedelta(minutes=item["fresh_within_minutes"]) if newest else None
    return kwargs


def sources_of(table: str) -> set[str]:
    """The landing sources a table is built from: itself for a raw table, its models' raw tables for the rest."""
    from pipelines.modeling.project import load_project

    schema, _, name = table.partition(".")
    if schema == "raw":
        return {name}
    model = load_project().get(table)
    return {source.partition(".")[2] for source in model.sources} if model else set()


def connected(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Whether any landing file of the table's sources was ever loaded. A source nobody connected is reported as
    such instead of failing its freshness; one that was connected and went silent still fails."""
    if not table_exists(con, "raw", MANIFEST.partition(".")[2]):
        return False
    query = exp.select(exp.Count(this=exp.Star())).from_(exp.to_table(MANIFEST))
    query = query.where(exp.column("source").isin(query=exp.select(exp.Unnest(expressions=[exp.Placeholder()]))))
    return con.sql(query.sql("duckdb"), params=[sorted(sources_of(table))]).fetchall()[0][0] > 0


def _not_connected(suite: Suite, run_at: datetime) -> list[dict]:
    return [
        {
            **_identity(suite, item, run_at),
            "success": None,
            "rows_checked": 0,
            "unexpected_count": None,
            "unexpected_percent": None,
            "observed_value": NOT_CONNECTED,
            "sample": "[]",
            "error": None,
        }
        for item in suite.expectations
    ]


def _identity(suite: Suite, item: dict, run_at: datetime) -> dict:
    return {
        "run_at": run_at,
        "table_name": suite.table,
        "expectation": item["expect"],
        "column_name": item.get("column") or ",".join(item.get("column_list", [])) or None,
        "condition": item.get("row_condition"),
    }


def run_suite(con: duckdb.DuckDBPyConnection, suite: Suite, run_at: datetime) -> list[dict]:
    """Every expectation of the suite on the table's newest partition: one result row each (success None when
    the table's sources were never connected)."""
    if not connected(con, suite.table):
        return _not_connected(suite, run_at)
    gx = _great_expectations()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    polars_frame = partition(con, suite)
    frame = polars_frame.to_pandas()

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)  # a build's output stays readable
    batch = (
        context.data_sources.add_pandas("goodput")
        .add_dataframe_asset(name=suite.table)
        .add_batch_definition_whole_dataframe("newest")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    expectations = [
        _expectation_class(item["expect"], f"{SUITES.name}: {suite.table}")(**_kwargs(con, item, polars_frame))
        for item in suite.expectations
    ]
    # one validation of the whole suite: GX computes the metrics the expectations share once
    outcomes = batch.validate(gx.ExpectationSuite(name=suite.table, expectations=expectations)).results
    if [o.expectation_config.type for o in outcomes] != [e.expectation_type for e in expectations]:
        raise SuiteError(f"{suite.table}: Great Expectations returned its results in another order")
    rows = []
    for item, outcome in zip(suite.expectations, outcomes, strict=True):
        result = outcome.result or {}
        error = (outcome.exception_info or {}).get("exception_message")
        rows.append(
            {
                **_identity(suite, item, run_at),
                "success": bool(outcome.success),
                "rows_checked": len(frame),
                "unexpected_count": result.get("unexpected_count"),
                "unexpected_percent": result.get("unexpected_percent"),
                "observed_value": _observed(result.get("observed_value"), len(frame)),
                "sample": json.dumps(result.get("partial_unexpected_list", [])[:5], default=str),
                "error": error,
            }
        )
    return rows


def _observed(value, rows: int) -> str | None:
    """The value an expectation saw, as text; on an empty table "no rows" (a source never connected, or silent),
    not the NaT or NaN that a maximum of nothing gives."""
    if rows == 0:
        return "no rows"
    return None if value is None else str(value)[:200]


def run_suites(con: duckdb.DuckDBPyConnection, tables: list[str] | None = None, run_at: datetime | None = None):
    """Run the suites (all, or of the given tables) and store their results; returns the result rows."""
    run_at = run_at or datetime.now().replace(microsecond=0)
    rows = []
    for table, suite in load_suites().items():
        if tables is None or table in tables:
            rows += run_suite(con, suite, run_at)
    store(con, rows)
    return rows


def store(con: duckdb.DuckDBPyConnection, rows: list[dict]) -> None:
    con.execute("create schema if not exists quality")
    con.execute(f"""create table if not exists {RESULTS} (run_at timestamp, table_name varchar, expectation varchar,
        column_name varchar, condition varchar, success boolean, rows_checked bigint, unexpected_count bigint,
        unexpected_percent double, observed_value varchar, sample varchar, error varchar)""")
    if rows:
        frame = pl.DataFrame(rows, infer_schema_length=None)  # noqa: F841 (read by DuckDB below)
        con.execute(f"insert into {RESULTS} by name select * from frame")
