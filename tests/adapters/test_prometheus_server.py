"""`goodput ingest --from-prometheus` against a real Prometheus backfilled with the shared fixtures' scrapes: the same
landing rows as ingesting the same scrapes as files, incrementally, and a clear error when the server cannot answer."""

from __future__ import annotations

import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from pipelines.adapters import prometheus
from pipelines.adapters.exporter_files import ingest
from pipelines.adapters.prometheus_server import PrometheusError, pull
from tests.monitoring.servers import PROMTOOL, free_port, needs_prometheus
from tests.monitoring.servers import prometheus as prometheus_server

SHARED = Path(__file__).parents[3] / "shared" / "fixtures"
T0 = datetime(2026, 3, 2, 10, 0)
SCRAPES = 6  # a minute apart
HOST = "nodeA"


def _samples(path: Path, k: int) -> pl.DataFrame:
    """The fixture's samples as its k-th scrape: counters grow by k x 7 so that rates exist."""
    parsed = prometheus.read_exposition(path).samples
    grown = pl.when(pl.col("name").str.ends_with("_total")).then(pl.col("value") + 7.0 * k).otherwise(pl.col("value"))
    return parsed.with_columns(grown.alias("value")).select("name", "labels", "value")


def _line(name: str, labels: str, value: float, ts: str = "") -> str:
    text = repr(float(value)) if value == value else "NaN"
    return f"{name}{{{labels}}} {text}{ts}"


@pytest.fixture(scope="module")
def scrapes(tmp_path_factory):
    """The dcgm and node_exporter fixtures as six scrapes each: files, and one OpenMetrics text for promtool."""
    root = tmp_path_factory.mktemp("scrapes")
    sources = {
        "dcgm": SHARED / "dcgm" / "datadog_t4_a10g_excerpt.prom",
        "node-exporter": SHARED / "node_exporter" / "e2e-output.txt",
    }
    families: dict[str, list[str]] = {}
    for fmt, fixture in sources.items():
        for k in range(SCRAPES):
            at = T0 + timedelta(minutes=k)
            frame = _samples(fixture, k)
            folder = root / "files" / fmt / HOST
            folder.mkdir(parents=True, exist_ok=True)
            lines = [_line(n, lab, v) for n, lab, v in frame.iter_rows()]
            (folder / f"{at:%Y-%m-%dT%H:%M:%S}Z.prom").write_text("\n".join(lines) + "\n")
            extra = f'instance="{HOST}:9100"' if fmt == "node-exporter" else ""
            for name, labels, value in frame.iter_rows():
                joined = ",".join(x for x in (labels, extra) if x)
                families.setdefault(name, []).append(
                    _line(name, joined, value, f" {(at - datetime(1970, 1, 1)).total_seconds():.0f}")
                )
    text = "".join(f"# TYPE {name} unknown\n" + "\n".join(lines) + "\n" for name, lines in families.items())
    (root / "backfill.om").write_text(text + "# EOF\n")
    return root


def _landed(landing: Path, source: str) -> pl.DataFrame:
    frame = pl.read_parquet(landing / source / "**" / "*.parquet")
    return frame.sort(frame.columns)


@needs_prometheus
def test_prometheus_gives_the_landing_rows_the_same_scrapes_give_as_files(scrapes, tmp_path):
    data = tmp_path / "tsdb"
    command = [PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", str(scrapes / "backfill.om"), str(data)]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    files = tmp_path / "from_files"
    ingest("dcgm", [scrapes / "files" / "dcgm"], files)
    ingest("node-exporter", [scrapes / "files" / "node-exporter"], files)
    served = tmp_path / "from_prometheus"
    config = "global: {scrape_interval: 15s}\nscrape_configs: []\n"
    with prometheus_server(tmp_path / "prometheus", config, data=data) as url:
        until = T0 + timedelta(minutes=SCRAPES)
        first = pull(url, served, T0, T0 + timedelta(minutes=3))  # a schedule's first pull, then the rest
        rest = pull(url, served, T0, until)
        assert first.exporters == ["dcgm", "node-exporter"] and rest.samples > 0
        assert pull(url, served, T0, until).samples == 0  # the watermark: nothing new, nothing read again
    for source in ("gpu_telemetry", "inventory", "node_telemetry", "network_telemetry"):
        if not (files / source).exists():
            continue
        assert _landed(served, source).equals(_landed(files, source)), source
    assert (files / "gpu_telemetry").exists() and (files / "node_telemetry").exists()


def test_an_unreachable_server_is_one_clear_error(tmp_path):
    with pytest.raises(PrometheusError, match="unreachable after 3 tries"):
        pull(f"http://127.0.0.1:{free_port()}", tmp_path, T0, T0 + timedelta(minutes=5))


@needs_prometheus
def test_a_bad_query_says_what_the_server_said(tmp_path):
    from pipelines.adapters.prometheus_server import Client

    with prometheus_server(tmp_path / "p", "global: {scrape_interval: 15s}\nscrape_configs: []\n") as url:
        with pytest.raises(PrometheusError, match="HTTP 400: .*parse error: unclosed left parenthesis"):
            Client(url).range("sum(", T0, T0 + timedelta(minutes=5), timedelta(seconds=60))
