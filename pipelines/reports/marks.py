"""What the time-axis pages mark on their charts, drawn one way: alerts as bands while open, planned maintenance as
grey bands, changes as dotted lines (with their names where there is room)."""

from __future__ import annotations

import duckdb
import plotly.graph_objects as go
import polars as pl

from pipelines.reports.data import Window

BAND_COLOURS = {"page": "rgba(207,34,46,0.15)", "ticket": "rgba(191,135,0,0.12)"}
MAINTENANCE_COLOUR = "rgba(110,119,129,0.15)"
CHANGE_COLOUR = "#0969da"


def mark_window(
    fig: go.Figure,
    con: duckdb.DuckDBPyConnection,
    window: Window,
    alerts: pl.DataFrame,
    intents: tuple[str, ...] = ("page", "ticket"),
    labelled: bool = True,
) -> None:
    for alert in alerts.filter(pl.col("intent").is_in(intents)).iter_rows(named=True):
        fig.add_vrect(
            x0=max(alert["started_at"], window.start),
            x1=alert["resolved_at"] or window.end,
            fillcolor=BAND_COLOURS[alert["intent"]],
            line_width=0,
            **(
                {"annotation_text": alert["rule"], "annotation_position": "top left", "annotation_font_size": 9}
                if labelled
                else {}
            ),
        )
    for start, end in con.execute(
        "select distinct start_at, end_at from staging.stg_maintenance__node_windows where start_at < ? and end_at > ?",
        [window.end, window.start],
    ).fetchall():
        fig.add_vrect(x0=max(start, window.start), x1=min(end, window.end), fillcolor=MAINTENANCE_COLOUR, line_width=0)
    for changed_at, component, to_version in con.execute(
        "select changed_at, component, to_version from staging.stg_changes__events where changed_at >= ? and "
        "changed_at < ? order by changed_at",
        [window.start, window.end],
    ).fetchall():
        fig.add_vline(x=changed_at, line_dash="dot", line_color=CHANGE_COLOUR)
        if labelled:
            fig.add_annotation(
                x=changed_at,
                y=1,
                yref="paper",
                text=f"{component} {to_version or ''}",
                showarrow=False,
                font={"size": 9, "color": CHANGE_COLOUR},
                textangle=-90,
                xanchor="right",
                yanchor="top",
            )
