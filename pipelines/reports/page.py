"""One HTML shell for every report, so that the pages look and navigate alike: a header with the time of the data,
links between the reports, sections of Plotly figures and tables. Plotly's JavaScript is inlined in every page with
a chart, so that a page opens from disk (or an email attachment) with no network and no file beside it."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path

import plotly.express as px
import plotly.graph_objects as go
import polars as pl

VENDOR = Path(__file__).parent / "vendor"  # plotly.js partial bundle from npm (MIT, see PLOTLY_LICENSE)
FINANCE_TRACES = {
    "bar",
    "candlestick",
    "funnel",
    "funnelarea",
    "histogram",
    "indicator",
    "ohlc",
    "pie",
    "scatter",
    "waterfall",
}
REPORT_PAGES = {
    "index": "Index",
    "finance": "Finance",
    "health": "Cluster health",
    "warroom": "War room",
    "progress": "Progress",
}

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
header{background:#24292f;color:#fff;padding:.8rem 1.5rem}header h1{margin:0;font-size:1.35rem}
header p{margin:.2rem 0 0;color:#c9d1d9;font-size:.85rem}nav{padding:.4rem 1.5rem;background:#fff;
border-bottom:1px solid #d0d7de}nav a{margin-right:1.2rem;color:#0969da;text-decoration:none;font-size:.9rem}
nav a.here{font-weight:600;color:#1f2328}main{padding:1rem 1.5rem;max-width:1400px}
section{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:.8rem 1rem;margin:0 0 1rem}
section h2{font-size:1.05rem;margin:.1rem 0 .4rem}.note{color:#57606a;font-size:.85rem;margin:.2rem 0 .6rem}
table{border-collapse:collapse;font-size:.85rem;margin:.3rem 0}td,th{border-bottom:1px solid #eaeef2;
padding:.25rem .6rem;text-align:right}th{background:#f6f8fa;position:sticky;top:0}td:first-child,th:first-child
{text-align:left}.scroll{max-height:420px;overflow:auto}.green{background:#dafbe1}.yellow{background:#fff8c5}
.red{background:#ffebe9}.grey{color:#8c959f}.status{display:flex;gap:.6rem;flex-wrap:wrap}
.status div{flex:1;min-width:130px;padding:.6rem;border-radius:6px;text-align:center;font-weight:600}
.status small{display:block;font-weight:400;font-size:.75rem}
"""


@dataclass
class Page:
    """A report page being put together: sections in order, each a title, a note and HTML or a figure."""

    name: str
    title: str
    data_from: datetime | None
    data_to: datetime | None
    sections: list[str] = field(default_factory=list)
    figures: int = 0
    trace_types: set[str] = field(default_factory=set)

    def add(self, title: str, body: str, note: str = "") -> None:
        note_html = f"<p class='note'>{html.escape(note)}</p>" if note else ""
        self.sections.append(f"<section><h2>{html.escape(title)}</h2>{note_html}{body}</section>")

    def figure(self, fig: go.Figure) -> str:
        """A figure's div (the page carries plotly.js once, in its head)."""
        self.figures += 1
        self.trace_types |= {trace.type for trace in fig.data}
        fig.update_layout(template="plotly_white", margin={"l": 60, "r": 20, "t": 40, "b": 40})
        return fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"{self.name}-fig-{self.figures}")

    def render(self) -> str:
        span = data_span_text(self.data_from, self.data_to)
        links = "".join(
            f"<a href='{name}.html' class='{'here' if name == self.name else ''}'>{label}</a>"
            for name, label in REPORT_PAGES.items()
        )
        return (
            "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>goodput · {html.escape(self.title)}</title><style>{STYLE}</style>"
            f"{f'<script>{plotly_bundle(self.trace_types)}</script>' if self.figures else ''}</head><body>"
            f"<header><h1>{html.escape(self.title)}</h1><p>{html.escape(span)}</p></header><nav>{links}</nav>"
            f"<main>{''.join(self.sections)}</main></body></html>"
        )

    def write(self, out: Path) -> Path:
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"{self.name}.html"
        path.write_text(self.render(), encoding="utf-8")
        return path


def stacked_bars(wide: pl.DataFrame, label: str, parts: list[str], colours: dict[str, str], unit: str) -> go.Figure:
    """One horizontal bar per row of `wide` (named by its `label` column), stacked from its `parts` columns, in the
    frame's row order, tall enough that every label reads."""
    long = wide.unpivot(index=label, on=parts, variable_name="part")
    fig = px.bar(
        long,
        x="value",
        y=label,
        color="part",
        orientation="h",
        color_discrete_map=colours,
        category_orders={"part": parts, label: wide[label].to_list()},
        labels={"value": unit, "part": ""},
    )
    fig.update_layout(height=max(300, 26 * wide.height + 120), legend_title_text="")
    return fig


def plotly_bundle(trace_types: set[str]) -> str:
    """The smallest plotly.js that draws the page: Plotly's 1.3 MB finance bundle when it holds every trace type the
    page uses and is the same minor version as the plotly.js this plotly.py writes for, else the full 4.8 MB one.
    Parsing plotly.js is most of a page's load time (about 2 s of 2.5 s for the full bundle here)."""
    partial = vendored_finance_js()
    if trace_types <= FINANCE_TRACES and _minor(partial) == _minor(plotly_js()):
        return partial
    return plotly_js()


@cache
def plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


@cache
def vendored_finance_js() -> str:
    return (VENDOR / "plotly-finance.min.js").read_text(encoding="utf-8")


def _minor(bundle: str) -> str | None:
    found = re.search(r"plotly\.js (?:\([a-z]+ - minified\) )?v(\d+\.\d+)\.", bundle[:300])
    return found.group(1) if found else None


def data_span_text(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return "no data in the warehouse yet"
    return f"data from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"


def table_html(
    frame: pl.DataFrame,
    classes: pl.Series | None = None,
    scroll: bool = True,
    digits: int = 2,
    raw: tuple[str, ...] = (),
) -> str:
    """A frame as an HTML table; `classes` gives each row a CSS class (green, yellow, red, grey); the `raw` columns
    hold HTML the page made itself (links) and are not escaped."""
    if frame.is_empty():
        return "<p class='note'>nothing in this window</p>"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in frame.columns)
    rows = []
    row_classes = classes.to_list() if classes is not None else [""] * frame.height
    for row, css in zip(frame.iter_rows(), row_classes, strict=True):
        cells = "".join(
            f"<td>{value if name in raw else html.escape(_cell(value, digits))}</td>"
            for name, value in zip(frame.columns, row, strict=True)
        )
        rows.append(f"<tr class='{css or ''}'>{cells}</tr>")
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    return f"<div class='scroll'>{table}</div>" if scroll else table


def _cell(value, digits: int) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    return str(value)


def link(href: str, text: str) -> str:
    return f"<a href='{html.escape(href, quote=True)}'>{html.escape(text)}</a>"
