"""The war-room page: one incident window across domains on one time axis (queueing, GPUs and goodput, network,
storage and the data loader), with changes, maintenance and alerts marked, the SLA penalty exposure and the
`explain` tree of the window, so that people from every team look at the same picture."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from pipelines.explain.render import as_figure
from pipelines.explain.run import explain_con
from pipelines.reports.data import Window, data_span, frame, window_or_default
from pipelines.reports.health import alerts_in
from pipelines.reports.marks import mark_window
from pipelines.reports.page import Page, table_html
from pipelines.reports.settings import reports_config

BUCKET = "5 minutes"
PAD = timedelta(hours=1)  # context either side of the drop
MIN_DROP = 0.01  # a drop of goodput under one point is noise, not an incident


def incident_window(con: duckdb.DuckDBPyConnection, start: datetime | None, end: datetime | None) -> Window:
    """The window asked for, or the largest goodput drop in the data: each region's hour-smoothed goodput (over the
    GPU time there was demand for, outside planned maintenance) against its trailing 24-hour median (causal), the
    span where the worst drop stays above half its peak, an hour of context each side."""
    if start is not None or end is not None:
        return window_or_default(con, start, end, 6)
    span = data_span(con)
    if span is None:
        raise ValueError("the warehouse has no north-star data yet (run `goodput build` first)")
    series = frame(
        con,
        # goodput where there was work to do, per region: idle for want of demand (nights, weekends) and planned
        # maintenance are no incident, and a regional one would drown in the fleet's average
        "select region, bucket_at, sum(productive_gpu_min)::double as productive, sum(paid_gpu_min)::double as paid, "
        "sum(productive_gpu_min) / nullif(sum(paid_gpu_min - loss_no_demand_gpu_min "
        "- loss_maintenance_gpu_min), 0) as goodput from marts.fct_goodput__5min "
        "group by region, bucket_at order by region, bucket_at",
    )
    # a full day of baseline where the data allows, so that the fleet filling up on the first morning is no drop
    history = 288 if span.hours >= 36 else 72
    drops = (
        series.with_columns(pl.col("goodput").rolling_mean(12, min_samples=1).over("region").alias("smoothed"))
        .with_columns(
            pl.col("smoothed").rolling_median(288, min_samples=history).shift(12).over("region").alias("baseline")
        )
        .with_columns((pl.col("baseline") - pl.col("smoothed")).alias("drop"))
    )
    candidates = drops.filter(pl.col("drop") >= MIN_DROP).sort("drop", descending=True)
    tried: list[Window] = []
    for region, at, peak in candidates.select("region", "bucket_at", "drop").head(MAX_CANDIDATES).iter_rows():
        if any(w.region == region and w.start <= at < w.end for w in tried):
            continue  # a bucket of a window already judged
        window = _run_around(drops, region, at, peak, span)
        tried.append(window)
        if _is_a_drop(series, window):
            return window
    return Window(max(span.start, span.end - timedelta(hours=6)), span.end)


MAX_CANDIDATES = 200  # buckets of the largest drops looked at before falling back to the last six hours


def _run_around(drops: pl.DataFrame, region: str, at: datetime, peak: float, span) -> Window:
    """The contiguous run of buckets around `at` where the drop stays above half its peak, an hour each side."""
    inside = drops.filter(pl.col("region") == region).with_columns(
        (pl.col("drop") >= peak / 2).fill_null(False).alias("inside")
    )
    runs = inside.with_columns((pl.col("inside") != pl.col("inside").shift(1)).fill_null(True).cum_sum().alias("run"))
    run_id = runs.filter(pl.col("bucket_at") == at)["run"][0]
    run = runs.filter(pl.col("run") == run_id)
    first, last = run["bucket_at"].min(), run["bucket_at"].max() + timedelta(minutes=5)
    return Window(max(span.start, first - PAD), min(span.end, last + PAD), region)


def _is_a_drop(series: pl.DataFrame, window: Window) -> bool:
    """Whether the window's goodput (productive over paid, as the page's `explain` reads it) is below the 24 hours
    before it in the same region: a dip of demand-adjusted goodput can still be a rise of goodput itself."""
    mine = series.filter(pl.col("region") == window.region)

    def goodput(start: datetime, end: datetime) -> float | None:
        part = mine.filter((pl.col("bucket_at") >= start) & (pl.col("bucket_at") < end))
        paid = part["paid"].sum()
        return part["productive"].sum() / paid if paid else None

    now, before = goodput(window.start, window.end), goodput(window.start - timedelta(hours=24), window.start)
    return now is not None and before is not None and now < before


def build(con: duckdb.DuckDBPyConnection, window: Window) -> Page:
    title = f"War room: the goodput drop in {window.region}" if window.region else "War room"
    page = Page("warroom", title, window.start, window.end)
    alerts = alerts_in(con, window)
    page.add(
        "One window, every domain",
        page.figure(_timeline(con, window, alerts)),
        "Shared time axis. Red bands: pages open; grey: planned maintenance; dotted lines: changes.",
    )
    page.add("SLA penalty exposure", *_sla(con, window))
    pages = alerts.filter(pl.col("intent").is_in(["page", "ticket"]))
    page.add(
        "Alerts in the window",
        table_html(pages.select("detected_at", "intent", "family", "rule", "suspected_change_id", "summary")),
    )
    changes = frame(
        con,
        "select changed_at, change_type, component, from_version, to_version, scope_region, scope_sku, description "
        "from staging.stg_changes__events where changed_at >= ? and changed_at < ? order by changed_at",
        [window.start - timedelta(hours=6), window.end],
    )
    page.add("Changes in and just before the window", table_html(changes), "From 6 hours before the window.")
    _explain(page, con, window)
    return page


def _series(con, window: Window) -> pl.DataFrame:
    params = [window.start, window.end]
    north = frame(
        con,
        f"select time_bucket(interval '{BUCKET}', bucket_at) as at, sum(productive_gpu_min) / sum(paid_gpu_min) "
        "as goodput from marts.fct_goodput__5min where bucket_at >= ? and bucket_at < ? group by 1",
        params,
    )
    queue = frame(
        con,
        f"select time_bucket(interval '{BUCKET}', started_at) as at, "
        "quantile_cont(queue_wait_s / slo_s, 0.5) as wait_p50, quantile_cont(queue_wait_s / slo_s, 0.9) as wait_p90, "
        "quantile_cont(queue_wait_s / slo_s, 0.99) as wait_p99 from marts.fct_jobs__queue_waits "
        "where started_at >= ? and started_at < ? and slo_s > 0 group by 1",
        params,
    )
    gpus = frame(
        con,
        f"select time_bucket(interval '{BUCKET}', minute_at) as at, avg(gpu_util_pct) as gpu_util_pct "
        "from staging.stg_gpu_telemetry__minutes where minute_at >= ? and minute_at < ? group by 1",
        params,
    )
    nodes = frame(
        con,
        f"select time_bucket(interval '{BUCKET}', minute_at) as at, sum(ecn_marks) / 5.0 as ecn_marks_per_min, "
        "sum(retransmits) / 5.0 as retransmits_per_min, quantile_cont(storage_latency_p99_ms, 0.9) as "
        "storage_p99_ms_p90_node from marts.fct_health__node_minutes where minute_at >= ? and minute_at < ? group by 1",
        params,
    )
    loader = frame(
        con,
        f"select time_bucket(interval '{BUCKET}', minute_at) as at, sum(dataloader_wait_total_s) / "
        "nullif(sum(step_time_total_s), 0) as dataloader_share from marts.fct_training__worker_minutes "
        "where minute_at >= ? and minute_at < ? group by 1",
        params,
    )
    joined = north
    for part in (queue, gpus, nodes, loader):
        joined = joined.join(part, on="at", how="full", coalesce=True)
    return joined.sort("at")


def _timeline(con, window: Window, alerts: pl.DataFrame) -> go.Figure:
    s = _series(con, window)
    rows = [
        ("queue wait / class SLO", [("wait_p50", "p50"), ("wait_p90", "p90"), ("wait_p99", "p99")]),
        ("GPUs", [("goodput", "goodput"), ("gpu_util_pct", "GPU util (fraction)")]),
        ("network", [("ecn_marks_per_min", "ECN marks/min"), ("retransmits_per_min", "retransmits/min")]),
        ("storage and input", [("storage_p99_ms_p90_node", "storage p99 ms (90th pct node)")]),
        ("data loader", [("dataloader_share", "data-loader share of step time")]),
    ]
    fig = make_subplots(
        rows=len(rows), cols=1, shared_xaxes=True, vertical_spacing=0.03, subplot_titles=[r[0] for r in rows]
    )
    for i, (_, traces) in enumerate(rows, start=1):
        for column, label in traces:
            y = s[column] / 100 if column == "gpu_util_pct" else s[column]
            fig.add_trace(go.Scatter(x=s["at"], y=y, name=label, mode="lines"), row=i, col=1)
    fig.add_hline(y=1, line_dash="dash", line_color="#cf222e", row=1, col=1, annotation_text="SLO")
    mark_window(fig, con, window, alerts, intents=("page",), labelled=False)
    fig.update_layout(height=190 * len(rows), hovermode="x unified", legend={"orientation": "h", "y": -0.05})
    return fig


def _sla(con, window: Window) -> tuple[str, str]:
    rates = reports_config().sla_penalty
    missed = frame(
        con,
        "select job_id, team, region, workload_class, deadline_at, completed_at, hours_late, "
        "? + ? * hours_late as penalty_usd from marts.fct_pipelines__deadlines "
        "where deadline_at >= ? and deadline_at < ? and met = 0 order by penalty_usd desc",
        [rates.usd_per_miss, rates.usd_per_hour_late, window.start, window.end],
    )
    due = con.execute(
        "select count(*), coalesce(sum(met), 0) from marts.fct_pipelines__deadlines where deadline_at >= ? and "
        "deadline_at < ?",
        [window.start, window.end],
    ).fetchall()[0]
    total = missed["penalty_usd"].sum() if missed.height else 0.0
    body = (
        f"<div class='status'><div class='{'red' if missed.height else 'green'}'>${total:,.0f}<small>penalty exposure"
        f"</small></div><div>{due[0]}<small>deadlines due</small></div><div>{due[1]}<small>met</small></div></div>"
        + table_html(missed)
    )
    note = (
        f"Missed pipeline deadlines in the window at {rates.usd_per_miss:,.0f} USD a miss plus "
        f"{rates.usd_per_hour_late:,.0f} USD an hour late (pipelines/config/reports.yml)."
    )
    return body, note


def _explain(page: Page, con, window: Window) -> None:
    span = data_span(con)
    baseline_start = max(span.start, window.start - timedelta(hours=24))
    if baseline_start >= window.start:
        page.add("Why goodput moved", "<p class='note'>The window starts with the data: no baseline before it.</p>")
        return
    where = {"region": [window.region]} if window.region else {}
    tree = explain_con(con, window.start, window.end, baseline_start, window.start, where)
    families = pl.DataFrame({"family": list(tree["families"]), "log_change": list(tree["families"].values())}).sort(
        "log_change"
    )
    page.add(
        "Why goodput moved",
        page.figure(as_figure(tree, sunburst=False)) + table_html(families, scroll=False, digits=4),
        f"{'Region ' + window.region + ': t' if window.region else 'T'}he window against the 24 hours before it: the "
        "log change of goodput split into factors, loss reasons and families; the parts add up to the whole "
        "(goodput explain).",
    )
