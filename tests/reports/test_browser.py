"""Every report opened in a real headless Chromium: no JavaScript errors, every chart drawn with data, a screen that
is not blank, and links that resolve. CI installs Debian's chromium; without it these tests are skipped."""

import pytest

from pipelines.reports.browser import check_pages, chromium_path

pytestmark = pytest.mark.skipif(chromium_path() is None, reason="no chromium on this machine")


@pytest.fixture(scope="module")
def checks(reports_dir):
    return {c.path.name: c for c in check_pages(sorted(reports_dir.glob("*.html")))}


def test_every_page_opens_without_javascript_errors(checks):
    assert set(checks) == {"index.html", "finance.html", "health.html", "warroom.html", "progress.html"}
    assert {name: c.errors for name, c in checks.items() if c.errors} == {}


def test_every_chart_renders_with_data(checks):
    for name in ("finance.html", "health.html", "warroom.html", "progress.html"):
        assert checks[name].plots, name
        assert checks[name].empty_plots == [], name


def test_screens_are_not_blank_and_links_resolve(checks):
    for name, check in checks.items():
        assert check.distinct_screen_bytes > 50, name
        assert check.broken_links == [], name
