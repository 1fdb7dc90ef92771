"""The Finance report: where the bill went (productive work, each loss, idle, maintenance) by team, region and SKU,
reserved against on-demand, idle and wasted spend, cost per productive GPU-hour, week over week; the same tables as
CSV for spreadsheets. Everything reads marts.fct_cost__chargeback_daily, whose rows add up to the bill."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import duckdb
import plotly.express as px
import plotly.graph_objects as go
import polars as pl

from pipelines.reports.data import Window, frame
from pipelines.reports.page import Page, stacked_bars, table_html

CHARGEBACK = "marts.fct_cost__chargeback_daily"
KIND_ORDER = ["productive", "inefficiency", "wasted", "idle", "hardware", "maintenance", "unobserved"]
KIND_COLOURS = {
    "productive": "#2da44e",
    "inefficiency": "#bf8700",
    "wasted": "#cf222e",
    "idle": "#8250df",
    "hardware": "#953800",
    "maintenance": "#6e7781",
    "unobserved": "#d0d7de",
}


def chargeback(con: duckdb.DuckDBPyConnection, window: Window) -> pl.DataFrame:
    """Every chargeback row of the days the window touches."""
    return frame(
        con,
        f"select * from {CHARGEBACK} where cost_date >= date_trunc('day', ?::timestamp) and cost_date < ?",
        [window.start, window.end],
    )


def reconciliation(rows: pl.DataFrame, bills: pl.DataFrame) -> pl.DataFrame:
    """Per region-day: the bill beside the sum of every category; the difference must be under a cent."""
    charged = rows.group_by("cost_date", "region").agg(pl.col("spend_usd").sum().alias("charged_usd"))
    billed = bills.group_by("cost_date", "region").agg(pl.col("cost_usd").sum().alias("bill_usd"))
    return (
        billed.join(charged, on=["cost_date", "region"], how="full", coalesce=True)
        .with_columns((pl.col("charged_usd").fill_null(0) - pl.col("bill_usd").fill_null(0)).alias("difference_usd"))
        .sort("cost_date", "region")
    )


def by_team_and_kind(rows: pl.DataFrame) -> pl.DataFrame:
    """Team x spend kind in USD, teams by their bill."""
    pivot = rows.pivot(on="spend_kind", index="team", values="spend_usd", aggregate_function="sum").fill_null(0)
    kinds = [k for k in KIND_ORDER if k in pivot.columns]
    return (
        pivot.select("team", *kinds)
        .with_columns(pl.sum_horizontal(kinds).alias("total_usd"))
        .sort("total_usd", descending=True)
    )


def productive_cost(rows: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    """Cost per productive GPU-hour: everything a slice was charged over the GPU-hours it turned into progress."""
    return (
        rows.filter(pl.col("category") != "unobserved")
        .group_by(by)
        .agg(
            pl.col("spend_usd").sum().alias("spend_usd"),
            pl.col("gpu_h").sum().alias("gpu_h"),
            pl.col("gpu_h").filter(pl.col("category") == "productive").sum().alias("productive_gpu_h"),
        )
        .with_columns(
            (pl.col("spend_usd") / pl.when(pl.col("productive_gpu_h") > 0).then(pl.col("productive_gpu_h"))).alias(
                "usd_per_productive_gpu_h"
            )
        )
        .sort("spend_usd", descending=True)
    )


def week_over_week(rows: pl.DataFrame, end_day) -> pl.DataFrame:
    """Per team: the last 7 days against the 7 before (days that exist), spend and cost per productive GPU-hour."""
    last_start = end_day - timedelta(days=7)
    prev_start = end_day - timedelta(days=14)
    tagged = rows.filter(pl.col("team") != "none").with_columns(
        pl.when(pl.col("cost_date") >= last_start)
        .then(pl.lit("this_week"))
        .when(pl.col("cost_date") >= prev_start)
        .then(pl.lit("last_week"))
        .otherwise(None)
        .alias("week")
    )
    summary = productive_cost(tagged.filter(pl.col("week").is_not_null()), ["team", "week"])
    wide = summary.pivot(on="week", index="team", values=["spend_usd", "usd_per_productive_gpu_h"])
    for column in ("spend_usd_this_week", "spend_usd_last_week"):
        if column not in wide.columns:
            wide = wide.with_columns(pl.lit(None, dtype=pl.Float64).alias(column))
    return wide.with_columns(
        ((pl.col("spend_usd_this_week") / pl.col("spend_usd_last_week") - 1) * 100).alias("spend_change_pct")
    ).sort("spend_usd_this_week", descending=True, nulls_last=True)


def build(con: duckdb.DuckDBPyConnection, window: Window, out: Path) -> Page:
    rows = chargeback(con, window)
    bills = frame(
        con,
        "select cost_date::timestamp as cost_date, region, sku, gpus_total, gpus_reserved, gpus_on_demand, "
        "reserved_usd_per_gpu_h, on_demand_usd_per_gpu_h, cost_usd from staging.stg_cost__region_sku_days "
        "where cost_date >= date_trunc('day', ?::timestamp) and cost_date < ?",
        [window.start, window.end],
    )
    page = Page("finance", "Finance: where the GPU bill went", window.start, window.end)
    if rows.is_empty():
        page.add("No bill", "<p>No cost_capacity rows cover this window.</p>")
        return page
    _headline(page, rows)
    _by_team(page, rows)
    _by_region_sku(page, rows, bills)
    _idle_and_waste(page, rows, con, window)
    wow = week_over_week(rows, rows["cost_date"].max() + timedelta(days=1))
    page.add(
        "Week over week by team",
        table_html(wow),
        "The last 7 days of the window against the 7 before; empty where the data does not reach back that far.",
    )
    recon = reconciliation(rows, bills)
    page.add(
        "Reconciliation with the bill",
        table_html(recon, digits=4),
        "Per region and day: the cost_capacity bill against the sum of every category charged (productive, each "
        "loss, idle, maintenance, and billed hours the telemetry did not see). The difference is under a cent.",
    )
    _write_csv(out, rows, bills, recon, wow)
    page.add(
        "Spreadsheets",
        "<p>" + " · ".join(f"<a href='{name}'>{name}</a>" for name in CSV_FILES) + "</p>",
        "The same tables as CSV, beside this page.",
    )
    return page


CSV_FILES = ("finance_chargeback.csv", "finance_reconciliation.csv", "finance_bills.csv", "finance_week_over_week.csv")


def _write_csv(out: Path, rows, bills, recon, wow) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, table in zip(
        CSV_FILES, (rows.sort("cost_date", "region", "sku", "team"), bills, recon, wow), strict=True
    ):
        table.write_csv(out / name)


def _headline(page: Page, rows: pl.DataFrame) -> None:
    total = rows["spend_usd"].sum()
    kinds = dict(rows.group_by("spend_kind").agg(pl.col("spend_usd").sum()).iter_rows())
    productive_h = rows.filter(pl.col("category") == "productive")["gpu_h"].sum()
    observed = rows.filter(pl.col("category") != "unobserved")["spend_usd"].sum()
    cells = [
        ("the bill", f"${total:,.0f}", ""),
        ("productive", f"${kinds.get('productive', 0):,.0f}", "green"),
        ("idle", f"${kinds.get('idle', 0):,.0f}", "yellow"),
        ("wasted", f"${kinds.get('wasted', 0):,.0f}", "red"),
        ("cost per productive GPU-h", f"${observed / productive_h:,.2f}" if productive_h else "n/a", ""),
    ]
    body = "<div class='status'>" + "".join(f"<div class='{c}'>{v}<small>{k}</small></div>" for k, v, c in cells)
    page.add(
        "At a glance",
        body + "</div>",
        "Idle: healthy GPUs nobody used. Wasted: work thrown away after the last "
        "checkpoint, jobs that never made progress, GPUs held idle by running jobs.",
    )


def _by_team(page: Page, rows: pl.DataFrame) -> None:
    table = by_team_and_kind(rows)
    fig = stacked_bars(table, "team", [k for k in KIND_ORDER if k in table.columns], KIND_COLOURS, "USD")
    page.add(
        "Spend by team",
        page.figure(fig) + table_html(table),
        "'unallocated' is capacity no job held (idle, maintenance, faults on free GPUs); 'none' is billed capacity "
        "the telemetry did not see.",
    )


def _by_region_sku(page: Page, rows: pl.DataFrame, bills: pl.DataFrame) -> None:
    cost = productive_cost(rows, ["region", "sku"])
    contracts = (
        bills.group_by("region", "sku")
        .agg(
            (pl.col("gpus_reserved") * 24 * pl.col("reserved_usd_per_gpu_h")).sum().alias("reserved_usd"),
            (pl.col("gpus_on_demand") * 24 * pl.col("on_demand_usd_per_gpu_h")).sum().alias("on_demand_usd"),
            pl.col("cost_usd").sum().alias("bill_usd"),
        )
        .sort("region", "sku")
    )
    fig = go.Figure(
        [
            go.Bar(name="reserved", x=contracts["region"] + " " + contracts["sku"], y=contracts["reserved_usd"]),
            go.Bar(name="on demand", x=contracts["region"] + " " + contracts["sku"], y=contracts["on_demand_usd"]),
        ]
    )
    fig.update_layout(barmode="stack", height=320, yaxis_title="USD")
    page.add(
        "Region and SKU: reserved against on-demand, and cost per productive GPU-hour",
        page.figure(fig) + table_html(contracts) + table_html(cost),
        "Reserved capacity is paid whether used or not: idle reserved GPUs are the cheapest to fill.",
    )


def _idle_and_waste(page: Page, rows: pl.DataFrame, con: duckdb.DuckDBPyConnection, window: Window) -> None:
    daily = (
        rows.filter(pl.col("spend_kind").is_in(["idle", "wasted"]))
        .group_by("cost_date", "category")
        .agg(pl.col("spend_usd").sum())
        .sort("cost_date")
    )
    fig = px.bar(daily, x="cost_date", y="spend_usd", color="category", labels={"spend_usd": "USD", "cost_date": ""})
    fig.update_layout(height=340, barmode="stack", legend_title_text="")
    waste = (
        rows.filter(pl.col("spend_kind").is_in(["idle", "wasted"]) & (pl.col("gpu_h") != 0))
        .pivot(on="category", index="team", values="spend_usd", aggregate_function="sum")
        .fill_null(0)
    )
    waste = waste.with_columns(pl.sum_horizontal(pl.exclude("team")).alias("total_usd")).sort(
        "total_usd", descending=True
    )
    page.add(
        "Idle and wasted spend",
        page.figure(fig) + table_html(waste),
        "idle_with_demand: GPUs idle while jobs waited (a scheduling loss); idle_no_demand: over-capacity. "
        "lost_after_failure_<family>: failed or preempted work redone, by the failure's family (user: the job's "
        "own code or its user's cancellation); no_progress: jobs that held GPUs and never "
        "reported a step (dummy work); held_idle: GPUs a running job held without using them.",
    )
    flagged = frame(
        con,
        "select team, sum(flagged_attempts) as flagged_attempts, sum(flagged_gpu_hours) as flagged_gpu_h "
        "from marts.fct_teams__gaming_daily where day_at >= date_trunc('day', ?::timestamp) and day_at < ? "
        "group by team having sum(flagged_attempts) > 0 order by flagged_gpu_h desc",
        [window.start, window.end],
    )
    page.add(
        "Anti-gaming flags",
        table_html(flagged),
        "Jobs that kept GPUs busy without matching progress (busy loops, busy without steps, steps without GPU work). "
        "Their GPU-hours are already inside the categories above; this names the teams to talk to.",
    )
