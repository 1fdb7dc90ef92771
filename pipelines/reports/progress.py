"""The progress page: each (team, workload class) campaign's jobs expected, submitted, running, finished and
failed, completion, throughput, a rolling failure rate, memory used against requested and restarts; and the jobs
whose class cannot be inferred. Campaigns come from the control table, which registers new pairs by itself."""

from __future__ import annotations

from datetime import timedelta

import duckdb
import plotly.express as px
import polars as pl

from pipelines.reports.campaigns import TABLE
from pipelines.reports.data import Window, frame
from pipelines.reports.page import Page, stacked_bars, table_html
from pipelines.warehouse.connection import table_exists

FAILED_STATES = ("failed", "node_fail", "timeout")
ROLLING_HOURS = 24


_CONTROL = f"select team, workload_class, is_active, jobs_expected from {TABLE}"
# a warehouse whose writers never registered its campaigns (writers do it on every build and tick): all inactive
_UNREGISTERED = (
    "select distinct team, workload_class, false as is_active, null::bigint as jobs_expected "
    "from staging.stg_jobs__submissions"
)


def campaign_table(con: duckdb.DuckDBPyConnection, window: Window) -> pl.DataFrame:
    """One row per campaign: the control table's settings beside what its jobs (submitted in the window) did."""
    jobs = frame(
        con,
        """
        with peaks as (
            -- a job submitted in the window holds GPUs only after its start: hours before it need no scan
            select job_id, max(peak_mem_used_mib) / 1024.0 as peak_gpu_mem_gib,
            from intermediate.int_jobs__activity_hours
            where hour_at >= date_trunc('hour', ?::timestamp)
            group by job_id
        )
        select j.job_id, j.team, j.workload_class, j.first_started_at, j.last_ended_at, j.final_state,
            j.attempts, j.requested_gpu_mem_gib, p.peak_gpu_mem_gib,
        from marts.dim_jobs as j
        left join peaks as p using (job_id)
        where j.submitted_at >= ? and j.submitted_at < ?
        """,
        [window.start, window.start, window.end],
    )
    ended = pl.col("final_state").is_not_null() & pl.col("last_ended_at").is_not_null()
    recent = window.end - timedelta(hours=ROLLING_HOURS)
    per = jobs.group_by("team", "workload_class").agg(
        pl.len().alias("submitted"),
        (pl.col("first_started_at").is_not_null() & ~ended).sum().alias("running"),
        (ended & (pl.col("final_state") == "completed")).sum().alias("finished"),
        (ended & pl.col("final_state").is_in(FAILED_STATES)).sum().alias("failed"),
        (ended & (pl.col("final_state") == "completed") & (pl.col("last_ended_at") >= recent)).sum().alias("done_24h"),
        (pl.col("attempts").fill_null(1) - 1).clip(lower_bound=0).sum().alias("restarts"),
        pl.col("peak_gpu_mem_gib").median().alias("gpu_mem_used_gib"),
        pl.col("requested_gpu_mem_gib").median().alias("gpu_mem_requested_gib"),
    )
    control = frame(con, _CONTROL if table_exists(con, *TABLE.split(".")) else _UNREGISTERED)
    counts = ["submitted", "running", "finished", "failed", "done_24h", "restarts"]
    table = control.join(per, on=["team", "workload_class"], how="left").with_columns(pl.col(counts).fill_null(0))
    return (
        table.with_columns(
            (
                100
                * pl.col("finished")
                / pl.when(pl.col("jobs_expected") > 0)
                .then("jobs_expected")
                .otherwise(pl.when(pl.col("submitted") > 0).then("submitted"))
            ).alias("completion_pct"),
            (pl.col("done_24h") / ROLLING_HOURS).alias("finished_per_h"),
            (
                100
                * pl.col("failed")
                / pl.when((pl.col("finished") + pl.col("failed")) > 0).then(pl.col("finished") + pl.col("failed"))
            ).alias("failure_pct"),
            (
                pl.col("gpu_mem_used_gib") / pl.when(pl.col("gpu_mem_requested_gib") > 0).then("gpu_mem_requested_gib")
            ).alias("mem_used_of_requested"),
        )
        .drop("done_24h")
        .sort(["is_active", "submitted"], descending=True)
    )


def rolling_failure_rate(con: duckdb.DuckDBPyConnection, window: Window, campaigns: list[tuple[str, str]]):
    """Per campaign and hour: failed attempts over ended attempts in the trailing 24 hours (causal)."""
    hourly = frame(
        con,
        "select date_trunc('hour', ended_at) as hour_at, team, workload_class, sum(ended_attempts)::double as ended, "
        "sum(infra_failures + user_failures)::double as failed from marts.fct_jobs__attempt_outcomes "
        "where ended_at >= ? and ended_at < ? group by all",
        [window.start - timedelta(hours=ROLLING_HOURS), window.end],
    )
    keep = pl.DataFrame(campaigns, schema={"team": pl.String, "workload_class": pl.String}, orient="row")
    hourly = hourly.join(keep, on=["team", "workload_class"]).sort("hour_at")
    rolled = hourly.rolling("hour_at", period=f"{ROLLING_HOURS}h", group_by=["team", "workload_class"]).agg(
        pl.col("ended").sum(), pl.col("failed").sum()
    )
    return rolled.filter(pl.col("hour_at") >= window.start).with_columns(
        (pl.col("failed") / pl.col("ended")).alias("failure_rate"),
        (pl.col("team") + " / " + pl.col("workload_class")).alias("campaign"),
    )


def build(con: duckdb.DuckDBPyConnection, window: Window) -> Page:
    page = Page("progress", "Campaign progress", window.start, window.end)
    table = campaign_table(con, window)
    shown = table.with_columns((pl.col("team") + " / " + pl.col("workload_class")).alias("campaign"))
    colours = {"finished": "#2da44e", "running": "#0969da", "failed": "#cf222e"}
    fig = stacked_bars(shown, "campaign", list(colours), colours, "jobs")
    page.add(
        "Campaigns",
        page.figure(fig)
        + table_html(
            table,
            classes=table["is_active"].map_elements(lambda active: "" if active else "grey", return_dtype=pl.String),
        ),
        "Every (team, workload class) registers itself when its first job arrives and stays inactive (grey) until "
        "someone runs `goodput campaign activate TEAM CLASS --expected N`. Completion is finished over expected "
        "(or over submitted while nothing is expected); throughput and failure rate use the last 24 hours.",
    )
    top = shown.sort("submitted", descending=True).head(8)
    rates = rolling_failure_rate(con, window, list(zip(top["team"], top["workload_class"], strict=True)))
    fig = px.line(rates, x="hour_at", y="failure_rate", color="campaign", labels={"hour_at": ""}, render_mode="svg")
    fig.update_layout(height=360, yaxis_tickformat=".0%", legend_title_text="")
    page.add("Failure rate, rolling 24 hours", page.figure(fig), "The eight busiest campaigns.")
    unclassified = frame(con, "select * from marts.fct_jobs__unclassified order by last_seen_at desc")
    page.add(
        f"Jobs whose class cannot be inferred: {unclassified.height}",
        table_html(unclassified.head(200)),
        "Jobs the scheduler ran or queued with no job metadata (no team, no class): fix the submitter or the adapter."
        " Queryable as marts.fct_jobs__unclassified; the asset check unclassified_jobs warns while any exist.",
    )
    return page
