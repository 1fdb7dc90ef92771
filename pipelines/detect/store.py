"""The alert log, the drain list and the straggler list in the warehouse: written by a detection pass (a full
replay replaces everything, a tick replaces what it re-evaluated), read by the CLI and the reports."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import polars as pl

from pipelines.detect.alerts import ALERT_SCHEMA
from pipelines.detect.config import detection_config, health_config
from pipelines.detect.engine import data_window, evaluate
from pipelines.detect.stragglers import COLUMNS as STRAGGLER_COLUMNS
from pipelines.detect.stragglers import find_stragglers
from pipelines.timing import StepClock
from pipelines.warehouse.connection import fetch, table_columns, table_exists

DRAIN_ACTIONS = ("quarantine", "preempt")
LOOKBACK = timedelta(hours=26)
REFRESH = timedelta(hours=2)


REPLAY_CHUNK = timedelta(days=7)


def detect(
    con: duckdb.DuckDBPyConnection,
    until: datetime | None = None,
    since: datetime | None = None,
    clock: StepClock | None = None,
) -> dict:
    """Evaluate and store. With `since`, alerts detected from `since` on are replaced and older ones kept (a tick);
    without, the whole log is rebuilt (a replay of every tick in the data): past REPLAY_CHUNK of data, as
    consecutive week-long ticks, so that its memory follows a week and not the history (a 90-day replay held every
    node-minute of the history at once, 5.9 GB). `clock` collects seconds by step."""
    clock = clock or StepClock()
    if since is None:
        window = data_window(con, until)
        if window is not None and window[1] - window[0] > REPLAY_CHUNK:
            end = window[0] + REPLAY_CHUNK
            _detect(con, end, None, clock)
            while end < window[1]:
                start, end = end, min(end + REPLAY_CHUNK, window[1])
                _detect(con, end, start, clock)
            return {
                name: con.execute(f"select count(*) from {table}").fetchall()[0][0]
                for name, table in (
                    ("alerts", "alerts.alerts"),
                    ("stragglers", "alerts.stragglers"),
                    ("drain", "marts.fct_gpus__drain_list"),
                )
            }
    return _detect(con, until, since, clock)


def _detect(con, until: datetime | None, since: datetime | None, clock: StepClock) -> dict:
    window = data_window(con, until)
    looked_back = None if since is None else since - LOOKBACK  # baselines need the day before the tick
    replace_from = None if since is None else since - REFRESH  # alerts still open near the tick are re-judged
    alerts = evaluate(con, until, looked_back, clock)
    if window and looked_back is not None:
        window = (max(window[0], looked_back), window[1])  # a tick looks at the recent runs only
    with clock.step("detect:stragglers"):
        stragglers = find_stragglers(con, detection_config(), window, since=looked_back, until=until)
    if replace_from is not None:
        alerts = alerts.filter(pl.col("detected_at") >= replace_from)
        stragglers = stragglers.filter(pl.col("detected_at") >= replace_from) if len(stragglers) else stragglers
    since = replace_from
    con.execute("create schema if not exists alerts")
    _replace(con, "alerts.alerts", alerts, "detected_at", since, ALERT_SCHEMA)
    _replace(con, "alerts.stragglers", stragglers, "detected_at", since, STRAGGLER_COLUMNS)
    drain = drain_list(con, window[1] if window else None)
    con.register("_drain", drain.to_arrow())
    con.execute("create schema if not exists marts")
    con.execute("create or replace table marts.fct_gpus__drain_list as select * from _drain")
    con.unregister("_drain")
    return {"alerts": len(alerts), "stragglers": len(stragglers), "drain": len(drain)}


def _replace(con, table: str, frame: pl.DataFrame, column: str, since: datetime | None, schema) -> None:
    if frame.is_empty() and schema is not None:
        frame = pl.DataFrame(schema=schema)
    con.register("_frame", frame.to_arrow())
    schema_name, name = table.split(".")
    # a table another version of goodput wrote with other columns is rewritten whole
    if since is None or table_columns(con, schema_name, name) != set(frame.columns):
        con.execute(f"create or replace table {table} as select * from _frame")
    else:
        con.execute(f"delete from {table} where {column} >= ?", [since])
        con.execute(f"insert into {table} select * from _frame where {column} >= ?", [since])
    con.unregister("_frame")


def drain_list(con: duckdb.DuckDBPyConnection, now: datetime | None) -> pl.DataFrame:
    """GPUs a scheduler should stop placing work on: every GPU of an alert whose action is quarantine or preempt,
    until its condition has been clear for the cool-off."""
    columns = {
        "gpu_id": pl.String,
        "node_id": pl.String,
        "alert_id": pl.String,
        "rule": pl.String,
        "action": pl.String,
        "since_at": pl.Datetime("us"),
        "clear_at": pl.Datetime("us"),
        "is_active": pl.Boolean,
        "reason": pl.String,
    }
    if not table_exists(con, "alerts", "alerts"):
        return pl.DataFrame(schema=columns)
    alerts = fetch(con, "select * from alerts.alerts where list_contains($1, action)", [list(DRAIN_ACTIONS)])
    if alerts.is_empty():
        return pl.DataFrame(schema=columns)
    cooloff = timedelta(minutes=health_config().drain_cooloff_min)
    gpus = alerts.with_columns(
        pl.col("scope").str.json_decode(pl.Struct({"gpus": pl.List(pl.String)})).struct.field("gpus").alias("gpu_id")
    ).explode("gpu_id")
    nodes = fetch(con, "select gpu_id, node_id from marts.dim_gpus")
    gpus = (
        gpus.drop_nulls("gpu_id")
        .join(nodes, on="gpu_id", how="left")
        .with_columns(
            pl.col("detected_at").alias("since_at"),
            (pl.col("resolved_at") + cooloff).alias("clear_at"),
            pl.col("summary").alias("reason"),
        )
    )
    latest = gpus.sort("since_at").group_by("gpu_id").last()
    active = pl.col("clear_at").is_null() | (pl.col("clear_at") > pl.lit(now)) if now else pl.col("clear_at").is_null()
    return (
        latest.with_columns(active.alias("is_active"))
        .select([pl.col(c).cast(t) for c, t in columns.items()])
        .sort("gpu_id")
    )


def read_alerts(con: duckdb.DuckDBPyConnection, since: datetime | None = None) -> pl.DataFrame:
    if not table_exists(con, "alerts", "alerts"):
        raise ValueError("the warehouse has no alert log: run `goodput build` first")
    if since is None:
        return fetch(con, "select * from alerts.alerts order by detected_at, rule")
    return fetch(con, "select * from alerts.alerts where detected_at >= ? order by detected_at, rule", [since])


def read_drain_list(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    return _read_written(
        con, "marts", "fct_gpus__drain_list", "drain list", "select * from marts.fct_gpus__drain_list order by gpu_id"
    )


def read_stragglers(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    return _read_written(
        con,
        "alerts",
        "stragglers",
        "straggler list",
        "select * from alerts.stragglers order by started_at, job_id, worker",
    )


def _read_written(con: duckdb.DuckDBPyConnection, schema: str, table: str, what: str, sql: str) -> pl.DataFrame:
    if not table_exists(con, schema, table):
        raise ValueError(f"the warehouse has no {what}: run `goodput build` first")
    return fetch(con, sql)
