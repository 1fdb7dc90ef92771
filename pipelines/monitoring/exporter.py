"""`goodput exporter`: the north star, its factors and what they are made of, as Prometheus metrics.

Each scrape opens the published snapshot read-only (never the working file, so it never blocks a tick), reads the
last complete 5-minute bucket and closes it. Ratios are exported per region only, computed by the semantic layer
(the numbers `goodput query` prints); everything a ratio is made of is exported as GPU-seconds per region, SKU and
workload class, so Prometheus re-aggregates any slice by dividing sums, never by averaging ratios."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from pipelines.semantic.losses import REASONS
from pipelines.warehouse.connection import connect

BUCKET = timedelta(minutes=5)
SLICE = ("region", "sku", "workload_class")
MEASURES = ("paid", "healthy", "allocated", "retained", "productive")
RATIOS = {  # metric -> semantic-layer metric
    "goodput_ratio": "goodput",
    "goodput_availability_ratio": "availability",
    "goodput_allocation_ratio": "allocation",
    "goodput_retention_ratio": "retention",
    "goodput_step_efficiency_ratio": "step_efficiency",
}
EPOCH = datetime(1970, 1, 1)
# SIGTERM (a service manager's stop) and Ctrl-C end the exporter with status 0 once the scrape in hand is answered,
# checked this often between scrapes. They set a flag rather than raise: wsgiref answers an exception raised during
# a scrape, KeyboardInterrupt too, with a 500 and serves on (seen: a stop sent while queued scrapes were answered was
# lost). Its own handlers also because a process started by one that ignores SIGTERM inherits the ignoring (seen: a
# test's exporter never stopped).
STOP_POLL_S = 0.5


def last_complete_bucket(con) -> datetime | None:
    """The newest 5-minute bucket wholly inside the data (the one a tick has finished)."""
    (end,) = con.execute("select max(data_end) from control.snapshot").fetchall()[0]
    if end is None:
        (end,) = con.execute("select max(bucket_at) + interval 5 minute from marts.fct_goodput__5min").fetchall()[0]
    if end is None:
        return None
    floor = EPOCH + (end - EPOCH) // BUCKET * BUCKET
    return floor - BUCKET


class WarehouseCollector(Collector):
    """Reads the published warehouse on every scrape."""

    def __init__(self, db: str | Path):
        self.db = Path(db)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        started = time.perf_counter()
        up = GaugeMetricFamily("goodput_warehouse_up", "1 when the published warehouse answered this scrape.")
        if not self.db.exists():
            up.add_metric([], 0)
            yield up
            return
        with connect(self.db, read_only=True) as con:
            bucket = last_complete_bucket(con)
            families = list(self._families(con, bucket)) if bucket is not None else []
        up.add_metric([], 1)
        yield up
        yield from families
        took = GaugeMetricFamily("goodput_exporter_read_seconds", "Seconds this scrape spent reading the warehouse.")
        took.add_metric([], time.perf_counter() - started)
        yield took

    def _families(self, con, bucket: datetime) -> Iterator[GaugeMetricFamily]:
        from pipelines.semantic.query import query

        stamp = GaugeMetricFamily(
            "goodput_bucket_start_timestamp_seconds", "Start of the 5-minute bucket every goodput_* series describes."
        )
        stamp.add_metric([], (bucket - EPOCH).total_seconds())
        yield stamp
        window = {"start": bucket, "end": bucket + BUCKET}
        ratios = query(list(RATIOS.values()), by=["region"], grain="5min", db=con, **window)
        for name, metric in RATIOS.items():
            family = GaugeMetricFamily(
                name, f"{metric} of the last complete 5-minute bucket, per region.", labels=["region"]
            )
            for region, value in zip(ratios["region"], ratios[metric], strict=True):
                if value is not None:
                    family.add_metric([region], value)
            yield family
        yield from _measures(con, bucket)
        yield from _alerts(con)


def _measures(con, bucket: datetime) -> Iterator[GaugeMetricFamily]:
    """The nested GPU-seconds and each loss reason's, per region, SKU and workload class (sums re-aggregate)."""
    sums = ", ".join([f"sum({m}_gpu_min) * 60" for m in MEASURES] + [f"sum({r.column}) * 60" for r in REASONS])
    rows = con.execute(
        f"select region, sku, workload_class, {sums} from marts.fct_goodput__5min where bucket_at = ? group by all",
        [bucket],
    ).fetchall()
    measures = {
        m: GaugeMetricFamily(f"goodput_{m}_gpu_seconds", f"{m.capitalize()} GPU-seconds in the bucket.", labels=SLICE)
        for m in MEASURES
    }
    losses = GaugeMetricFamily(
        "goodput_loss_gpu_seconds",
        "GPU-seconds lost in the bucket, by loss reason and its family (see goodput explain).",
        labels=[*SLICE, "reason", "family"],
    )
    for row in rows:
        labels = [str(v) if v is not None else "" for v in row[:3]]
        for index, measure in enumerate(MEASURES):
            measures[measure].add_metric(labels, float(row[3 + index] or 0.0))
        for index, reason in enumerate(REASONS):
            losses.add_metric([*labels, reason.reason, reason.family], float(row[3 + len(MEASURES) + index] or 0.0))
    yield from measures.values()
    yield losses


def _alerts(con) -> Iterator[GaugeMetricFamily]:
    family = GaugeMetricFamily(
        "goodput_alerts_open",
        "Alerts open (not resolved) by intent, severity and family.",
        labels=["intent", "severity", "family"],
    )
    rows = con.execute(
        "select intent, severity, coalesce(family, ''), count(*) from alerts.alerts "
        "where resolved_at is null group by all"
    ).fetchall()
    for intent, severity, name, count in rows:
        family.add_metric([intent, severity, name], count)
    yield family


def serve(db: str | Path, host: str = "127.0.0.1", port: int = 9464) -> None:
    """Serve /metrics until interrupted."""
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    from prometheus_client import CollectorRegistry, make_wsgi_app

    registry = CollectorRegistry()
    registry.register(WarehouseCollector(db))

    class Quiet(WSGIRequestHandler):
        def log_message(self, format, *args):  # noqa: A002 - a scrape every 15 s would fill the terminal
            pass

    stopping = threading.Event()
    if threading.current_thread() is threading.main_thread():  # Python sets handlers from the main thread only
        for stop_signal in (signal.SIGTERM, signal.SIGINT):
            signal.signal(stop_signal, lambda signum, frame: stopping.set())
    with make_server(host, port, make_wsgi_app(registry), handler_class=Quiet) as server:
        server.timeout = STOP_POLL_S
        print(f"serving goodput metrics of {db} on http://{host}:{server.server_port}/metrics", flush=True)
        while not stopping.is_set():
            server.handle_request()
