"""Open a report in a real headless Chromium (Debian's, driven by Playwright) and say what a reader would see:
JavaScript errors, how long until every chart has drawn, whether the charts hold data, whether the screen is blank,
and which links point at nothing. The tests and `goodput bench` both use it."""

from __future__ import annotations

import os
import shutil
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# every Plotly div on the page has drawn its data (Plotly sets _fullData once a plot is rendered)
ALL_PLOTS_DRAWN = """() => [...document.querySelectorAll('.js-plotly-plot')].every(d => d._fullData !== undefined)"""
# per chart: its traces, and how many of them hold data points (x, y, values or an indicator's value)
PLOT_SUMMARY = """() => [...document.querySelectorAll('.js-plotly-plot')].map(d => ({
    id: d.id,
    traces: (d._fullData || []).length,
    with_data: (d._fullData || []).filter(t => (t.x && t.x.length) || (t.y && t.y.length)
        || (t.values && t.values.length) || (t.ids && t.ids.length) || typeof t.value === 'number').length}))"""
LINKS = """() => [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href'))"""


@dataclass
class PageCheck:
    path: Path
    errors: list[str] = field(default_factory=list)
    load_ms: float = 0.0
    plots: list[dict] = field(default_factory=list)
    distinct_screen_bytes: int = 0
    broken_links: list[str] = field(default_factory=list)

    @property
    def empty_plots(self) -> list[str]:
        return [p["id"] for p in self.plots if p["with_data"] == 0]


def chromium_path() -> str | None:
    return os.environ.get("GOODPUT_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def check_pages(paths: list[Path], timeout_ms: int = 30_000) -> list[PageCheck]:
    """Open each page from disk in one browser; a fresh tab per page, so that caches do not flatter load times."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    if executable is None:
        raise RuntimeError("no Chromium found: install Debian's chromium or set GOODPUT_CHROMIUM")
    results = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            for path in paths:
                results.append(_check(browser, Path(path).resolve(), timeout_ms))
        finally:
            browser.close()
    return results


def _check(browser, path: Path, timeout_ms: int) -> PageCheck:
    result = PageCheck(path)
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.on("pageerror", lambda error: result.errors.append(str(error)))
    page.on("console", lambda msg: result.errors.append(msg.text) if msg.type == "error" else None)
    page.goto(path.as_uri(), wait_until="load", timeout=timeout_ms)
    page.wait_for_function(ALL_PLOTS_DRAWN, timeout=timeout_ms)
    # from the start of navigation to every chart drawn
    result.load_ms = page.evaluate("() => performance.now()")
    result.plots = page.evaluate(PLOT_SUMMARY)
    result.distinct_screen_bytes = distinct_bytes(page.screenshot(type="png"))
    for href in page.evaluate(LINKS):
        if "://" in href or href.startswith("#"):
            continue
        if not (path.parent / href.split("#")[0]).exists():
            result.broken_links.append(href)
    context.close()
    return result


def distinct_bytes(png: bytes) -> int:
    """How many distinct byte values the PNG's pixel rows hold: a blank screen has a handful, a chart hundreds."""
    offset, chunks = 8, []
    while offset < len(png):
        (length,) = struct.unpack(">I", png[offset : offset + 4])
        kind = png[offset + 4 : offset + 8]
        if kind == b"IDAT":
            chunks.append(png[offset + 8 : offset + 8 + length])
        offset += 12 + length
    return len(set(zlib.decompress(b"".join(chunks))))
