"""The index page: one link per report with the time of the data it shows and how long it took to write."""

from __future__ import annotations

import html

import polars as pl

from pipelines.reports.page import REPORT_PAGES, Page, data_span_text, table_html


def build(written: list) -> Page:
    start = min(w.data_from for w in written)
    end = max(w.data_to for w in written)
    page = Page("index", "goodput reports", start, end)
    rows = pl.DataFrame(
        {
            "report": [f"<a href='{w.path.name}'>{html.escape(REPORT_PAGES[w.name])}</a>" for w in written],
            "data shown": [data_span_text(w.data_from, w.data_to) for w in written],
            "written in (s)": [round(w.render_s, 2) for w in written],
        }
    )
    page.add("Reports", table_html(rows, scroll=False, raw=("report",)), "Each page opens from disk, no network.")
    return page
