"""The exporter's numbers are the semantic layer's: goodput per region for the last complete 5-minute bucket, its
factors and the GPU-seconds they divide; and a real Prometheus scraping it answers the same per region."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.parse
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from pipelines.monitoring.exporter import WarehouseCollector, last_complete_bucket
from pipelines.semantic.query import query
from tests.monitoring.servers import free_port, needs_prometheus, prometheus, wait_for

ROOT = Path(__file__).parents[2]


def _scrape(db) -> dict[str, list]:
    registry = CollectorRegistry()
    registry.register(WarehouseCollector(db))
    text = generate_latest(registry).decode()
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def test_goodput_per_region_is_the_semantic_layers_for_the_last_complete_bucket(incidents_db_path):
    scraped = _scrape(incidents_db_path)
    with duckdb.connect(str(incidents_db_path), read_only=True) as con:
        bucket = last_complete_bucket(con)
        expected = query(["goodput", "availability"], by=["region"], grain="5min", start=bucket,
                         end=bucket + timedelta(minutes=5), db=con)  # fmt: skip
        paid = dict(con.execute(
            "select region, sum(paid_gpu_min) * 60 from marts.fct_goodput__5min where bucket_at = ? group by 1",
            [bucket]).fetchall())  # fmt: skip
    ratios = {s.labels["region"]: s.value for s in scraped["goodput_ratio"]}
    assert ratios == pytest.approx(dict(zip(expected["region"], expected["goodput"], strict=True)), rel=1e-12)
    availability = {s.labels["region"]: s.value for s in scraped["goodput_availability_ratio"]}
    assert availability == pytest.approx(dict(zip(expected["region"], expected["availability"], strict=True)))
    seconds: dict[str, float] = {}
    for sample in scraped["goodput_paid_gpu_seconds"]:
        seconds[sample.labels["region"]] = seconds.get(sample.labels["region"], 0.0) + sample.value
    assert seconds == pytest.approx(paid)  # the slices add up to the region: a ratio re-aggregates by its sums
    (stamp,) = scraped["goodput_bucket_start_timestamp_seconds"]
    assert stamp.value == (bucket - datetime(1970, 1, 1)).total_seconds()


def test_the_factor_identity_holds_in_what_is_served(incidents_db_path):
    scraped = _scrape(incidents_db_path)
    by = {name: {s.labels["region"]: s.value for s in scraped[name]} for name in scraped if name.endswith("_ratio")}
    for region, goodput in by["goodput_ratio"].items():
        product = 1.0
        for factor in ("availability", "allocation", "retention", "step_efficiency"):
            product *= by[f"goodput_{factor}_ratio"][region]
        assert goodput == pytest.approx(product, rel=1e-9)


def test_a_missing_warehouse_reports_down_not_an_error(tmp_path):
    scraped = _scrape(tmp_path / "nothing.duckdb")
    assert [s.value for s in scraped["goodput_warehouse_up"]] == [0.0]


@needs_prometheus
def test_prometheus_scraping_the_exporter_answers_goodput_per_region(incidents_db_path, tmp_path):
    exporter, port = _start_exporter(incidents_db_path)
    try:
        config = (
            "global: {scrape_interval: 1s}\n"
            f"scrape_configs:\n  - job_name: goodput\n    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n"
        )
        with prometheus(tmp_path / "prometheus", config) as url:
            result = _until_answered(url, "goodput_ratio")
    finally:
        exporter.terminate()
        exporter.wait(timeout=STOP_TIMEOUT_S)
    served = {r["metric"]["region"]: float(r["value"][1]) for r in result}
    expected = {s.labels["region"]: s.value for s in _scrape(incidents_db_path)["goodput_ratio"]}
    assert served == pytest.approx(expected, rel=1e-12)


def test_a_stop_sent_while_scrapes_are_answered_is_not_lost(incidents_db_path):
    # wsgiref answers an exception raised inside a scrape, KeyboardInterrupt too, with a 500 and serves on: a stop
    # must wait for the scrape in hand, then end the exporter
    import threading
    import time

    exporter, port = _start_exporter(incidents_db_path)

    def scrape():
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30).read()
        except OSError:
            pass  # closed by the stop

    scrapes = [threading.Thread(target=scrape) for _ in range(8)]
    try:
        for thread in scrapes:
            thread.start()
        time.sleep(0.5)  # the server is answering one of them, the rest wait in its backlog
        assert _stop(exporter) == 0
    finally:
        for thread in scrapes:
            thread.join()


# without its handler the exporter never stops; with it, it stops at once, but on a loaded two-core machine its exit
# once outran 20 s (seen beside two year-long simulations), so the bound is generous
STOP_TIMEOUT_S = 60


def _start_exporter(db, **popen) -> tuple[subprocess.Popen, int]:
    """`goodput exporter` on a free port, once it answers (its output is not read: no pipe to fill)."""
    port = free_port()
    exporter = subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", "exporter", "--db", str(db), "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        **popen,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/metrics")
    except BaseException:
        exporter.kill()
        exporter.wait()
        raise
    return exporter, port


def _stop(exporter: subprocess.Popen) -> int | None:
    """SIGTERM, then its exit status within STOP_TIMEOUT_S (None if it did not stop: it is killed then)."""
    exporter.terminate()
    try:
        return exporter.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        exporter.kill()
        exporter.wait()
        return None


def _until_answered(url: str, promql: str, timeout_s: float = 60.0) -> list:
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{url}/api/v1/query?query={urllib.parse.quote(promql)}", timeout=5) as response:
            result = json.load(response)["data"]["result"]
        if result:
            return result
        time.sleep(0.5)
    raise TimeoutError(f"Prometheus never answered {promql}")


def test_sigterm_stops_the_exporter_even_where_its_parent_ignored_sigterm(incidents_db_path):
    # a process inherits an ignored SIGTERM from its parent (seen: a test run in the background, whose exporter then
    # never stopped); the exporter's own handler ends it as Ctrl-C does, with status 0
    import signal

    exporter, _ = _start_exporter(incidents_db_path, preexec_fn=lambda: signal.signal(signal.SIGTERM, signal.SIG_IGN))
    assert _stop(exporter) == 0
