"""The cluster-health page, built for the on-call glance: a status bar per family (5 seconds), a 12-hour timeline of
goodput and its factors with alert zones and change events (30 seconds), then gauges, top consumers, request sizing,
stragglers and the alert log with runbooks (2 minutes, then act)."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from pipelines.reports.data import Window, frame
from pipelines.reports.marks import mark_window
from pipelines.reports.page import Page, table_html
from pipelines.semantic.losses import FAULT_FAMILIES
from pipelines.semantic.query import query

# the five fault families, then how the GPUs were used (a goodput drop from GPUs held idle), apart
FAMILIES = (*FAULT_FAMILIES, "workload")
FACTORS = ["goodput", "availability", "allocation", "retention", "step_efficiency"]
# a request used below this share is over-provisioned, above the second share under-provisioned
SIZING_BANDS = (0.5, 0.95)


def alerts_in(con: duckdb.DuckDBPyConnection, window: Window) -> pl.DataFrame:
    """Alerts detected by the window's end that were still open during it."""
    return frame(
        con,
        "select * from alerts.alerts where detected_at < ? and coalesce(resolved_at, ?) >= ? order by detected_at desc",
        [window.end, window.end, window.start],
    )


def family_status(alerts: pl.DataFrame, at: datetime) -> dict[str, tuple[str, str]]:
    """Per family: red with a page open at `at`, yellow with a ticket or an earlier page in the window, else green;
    and a one-line reason."""
    status = {}
    for family in FAMILIES:
        mine = alerts.filter(pl.col("family") == family)
        open_ = mine.filter(pl.col("resolved_at").is_null() | (pl.col("resolved_at") > at))
        if open_.filter(pl.col("intent") == "page").height:
            status[family] = ("red", f"{open_.height} open: {open_['rule'][0]}")
        elif mine.filter(pl.col("intent").is_in(["page", "ticket"])).height:
            status[family] = ("yellow", f"{mine.height} in 12 h: {mine['rule'][0]}")
        else:
            status[family] = ("green", "nothing open")
    return status


def sizing(con: duckdb.DuckDBPyConnection, window: Window) -> pl.DataFrame:
    """Per workload class: GPU memory and CPU requested against what the jobs used, over the window's hours."""
    table = frame(
        con,
        """
        with used as (
            select job_id, max(peak_mem_used_mib) / 1024.0 as peak_mem_gib,
                sum(node_cpu_pct_sum) / nullif(sum(node_cpu_readings), 0) as node_cpu_busy_pct,
            from intermediate.int_jobs__activity_hours
            where hour_at >= date_trunc('hour', ?::timestamp) and hour_at < ? and gpu_minutes > 0
            group by job_id
        )
        select j.workload_class, count(*) as jobs,
            median(j.requested_gpu_mem_gib) as requested_gpu_mem_gib,
            median(u.peak_mem_gib) as peak_gpu_mem_used_gib,
            median(j.requested_cpus / greatest(j.requested_gpus, 1)) as requested_cpus_per_gpu,
            avg(u.node_cpu_busy_pct) as node_cpu_busy_pct,
        from used as u
        join marts.dim_jobs as j using (job_id)
        group by all order by jobs desc
        """,
        [window.start, window.end],
    )
    return table.with_columns(
        (pl.col("peak_gpu_mem_used_gib") / pl.col("requested_gpu_mem_gib")).alias("gpu_mem_used_share"),
        (pl.col("node_cpu_busy_pct") / 100).alias("cpu_busy_share"),
    )


def sizing_class(share: float | None) -> str:
    if share is None:
        return "grey"
    low, high = SIZING_BANDS
    return "yellow" if share < low else ("red" if share > high else "green")


def build(con: duckdb.DuckDBPyConnection, window: Window, runbooks: str = "runbooks") -> Page:
    page = Page("health", "Cluster health", window.start, window.end)
    alerts = alerts_in(con, window)
    status = family_status(alerts, window.end)
    cells = "".join(
        f"<div class='{colour}'>{family.replace('_', ' ')}<small>{reason}</small></div>"
        for family, (colour, reason) in status.items()
    )
    page.add(
        "Status",
        f"<div class='status'>{cells}</div>",
        "Red: a page is open. Yellow: a ticket, or a page since resolved, in the window. Green: nothing.",
    )
    series = query(FACTORS, grain="5min", start=window.start, end=window.end, db=con)
    page.add(
        "Goodput and its factors, last 12 hours",
        page.figure(_timeline(con, series, alerts, window)),
        "Shaded: alerts while open (red pages, yellow tickets), grey: planned maintenance; dotted lines: changes.",
    )
    page.add("Efficiency now", page.figure(_gauges(con, window)), "The last hour; the delta is against the 12 hours.")
    _consumers(page, con, window)
    size = sizing(con, window)
    page.add(
        "Requests against use, per workload class",
        table_html(size, classes=size["gpu_mem_used_share"].map_elements(sizing_class, return_dtype=pl.String)),
        f"Median GPU memory requested per GPU against the median job's peak; yellow: under {SIZING_BANDS[0]:.0%} of "
        f"the request used (over-provisioned), red: over {SIZING_BANDS[1]:.0%} (under-provisioned). CPU: cores asked "
        "per GPU beside how busy the jobs' nodes' CPUs were.",
    )
    stragglers = frame(
        con,
        "select job_id, attempt, worker, node_id, grain, first_step, last_step, round(slowdown, 2) as slowdown, "
        "started_at, ended_at, detected_at "
        "from alerts.stragglers where detected_at < ? and coalesce(resolved_at, ?) >= ? order by slowdown desc",
        [window.end, window.end, window.start],
    )
    page.add(
        "Stragglers",
        table_html(stragglers),
        "Ranks of distributed jobs slower than their peers over a stretch of steps (step grain: from the job's step "
        "log; minute grain: from per-minute runtime metrics); slowdown: the median ratio to the peers' time per step.",
    )
    page.add("Alert log", _alert_log(alerts, runbooks), "Every alert open during the 12 hours, newest first.")
    return page


def _timeline(con, series: pl.DataFrame, alerts: pl.DataFrame, window: Window) -> go.Figure:
    time = series.columns[0]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.45, 0.55], vertical_spacing=0.05)
    fig.add_trace(go.Scatter(x=series[time], y=series["goodput"], name="goodput", line={"width": 3}), row=1, col=1)
    for factor in FACTORS[1:]:
        fig.add_trace(go.Scatter(x=series[time], y=series[factor], name=factor.replace("_", " ")), row=2, col=1)
    mark_window(fig, con, window, alerts)
    fig.update_layout(height=520, hovermode="x unified")
    fig.update_yaxes(tickformat=".0%")
    return fig


def factor_totals(con, start: datetime, end: datetime) -> dict[str, float | None]:
    """Goodput and its factors over [start, end): summed measures, then divided (never an average of ratios)."""
    row = con.execute(
        "select sum(productive_gpu_min) / nullif(sum(paid_gpu_min), 0), sum(healthy_gpu_min) / "
        "nullif(sum(paid_gpu_min), 0), sum(allocated_gpu_min) / nullif(sum(healthy_gpu_min), 0), "
        "sum(retained_gpu_min) / nullif(sum(allocated_gpu_min), 0), sum(productive_gpu_min) / "
        "nullif(sum(retained_gpu_min), 0) from marts.fct_goodput__5min where bucket_at >= ? and bucket_at < ?",
        [start, end],
    ).fetchall()[0]
    return dict(zip(FACTORS, row, strict=True))


def _gauges(con, window: Window) -> go.Figure:
    now = factor_totals(con, max(window.start, window.end - timedelta(hours=1)), window.end)
    whole = factor_totals(con, window.start, window.end)
    fig = make_subplots(rows=1, cols=len(FACTORS), specs=[[{"type": "indicator"}] * len(FACTORS)])
    for i, factor in enumerate(FACTORS, start=1):
        value, reference = now[factor], whole[factor]
        fig.add_trace(
            go.Indicator(
                mode="gauge+number+delta",
                value=value * 100 if value is not None else None,
                number={"suffix": "%", "valueformat": ".1f"},
                delta={"reference": reference * 100 if reference is not None else None, "valueformat": ".1f"},
                title={"text": factor.replace("_", " ")},
                gauge={"axis": {"range": [0, 100]}},
            ),
            row=1,
            col=i,
        )
    fig.update_layout(height=230)
    return fig


def _consumers(page: Page, con, window: Window) -> None:
    used = frame(
        con,
        "select team, sum(allocated_gpu_min) / 60.0 as allocated_gpu_h, sum(productive_gpu_min) / 60.0 as "
        "productive_gpu_h, sum(productive_gpu_min) / sum(paid_gpu_min) as goodput from marts.fct_goodput__5min "
        "where bucket_at >= ? and bucket_at < ? and team <> 'unallocated' group by team "
        "order by allocated_gpu_h desc limit 10",
        [window.start, window.end],
    )
    page.add(
        "Top consumers", table_html(used), "Teams by GPU-hours held in the window, and the share that became progress."
    )


def _alert_log(alerts: pl.DataFrame, runbooks: str) -> str:
    if alerts.is_empty():
        return "<p class='note'>no alerts</p>"
    shown = alerts.select(
        "detected_at",
        "intent",
        "severity",
        "family",
        "rule",
        "started_at",
        "resolved_at",
        "summary",
        pl.format("<a href='{}/{}.html'>runbook</a>", pl.lit(runbooks), pl.col("rule")).alias("runbook"),
    )
    colours = shown["intent"].replace_strict({"page": "red", "ticket": "yellow"}, default="")
    return table_html(shown, classes=colours, raw=("runbook",))
