"""The index page: the north star at a glance, then one link per report with the time of the data it shows and how
long it took to write."""

from __future__ import annotations

import html
from datetime import timedelta

import duckdb
import polars as pl

from pipelines.reports.health import FACTORS, factor_totals
from pipelines.reports.page import REPORT_PAGES, Page, data_span_text, table_html


def build(written: list, con: duckdb.DuckDBPyConnection) -> Page:
    start = min(w.data_from for w in written)
    end = max(w.data_to for w in written)
    page = Page("index", "goodput reports", start, end)
    last_day = factor_totals(con, max(start, end - timedelta(hours=24)), end)
    open_alerts = con.execute(
        "select intent, count(*) from alerts.alerts where intent in ('page', 'ticket') and detected_at < ? "
        "and coalesce(resolved_at, ?) >= ? group by intent",
        [end, end, end],
    ).fetchall()
    counts = dict(open_alerts)
    cells = [
        (factor.replace("_", " "), f"{value:.1%}" if value is not None else "n/a") for factor, value in last_day.items()
    ]
    cells += [("open pages", str(counts.get("page", 0))), ("open tickets", str(counts.get("ticket", 0)))]
    colour = "red" if counts.get("page") else ("yellow" if counts.get("ticket") else "green")
    body = "".join(
        f"<div class='{colour if label.startswith('open') else ''}'>{value}<small>{label}</small></div>"
        for label, value in cells
    )
    page.add(
        "The last 24 hours",
        f"<div class='status'>{body}</div>",
        f"goodput = {' x '.join(FACTORS[1:])}, over the 24 hours to the end of the data.",
    )
    rows = pl.DataFrame(
        {
            "report": [f"<a href='{w.path.name}'>{html.escape(REPORT_PAGES[w.name])}</a>" for w in written],
            "data shown": [data_span_text(w.data_from, w.data_to) for w in written],
            "written in (s)": [round(w.render_s, 2) for w in written],
        }
    )
    page.add("Reports", table_html(rows, scroll=False, raw=("report",)), "Each page opens from disk, no network.")
    return page
