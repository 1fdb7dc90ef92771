"""`goodput ingest --from-prometheus URL`: the dcgm-exporter, node_exporter and kube-state-metrics series a Prometheus
server holds, read through its HTTP API and landed by the same adapters that read scrape files.

The series each adapter reads are asked for by name (`/api/v1/label/__name__/values` says which exist), a chunk of
time at a time (`/api/v1/query_range`), so memory follows one chunk, not the span. Each chunk's samples are laid out
again as the scrapes they were (one exposition per instance and step, sample timestamps kept) and handed to the
exporter's own adapter: one mapping per exporter, whether the scrapes come from files or from a server. Counters
become per-minute values there, across resets, as for files; every chunk also reads the step before it, so that its
first minute has the base its rates need. A watermark per server and exporter (`_prometheus/watermarks.json` in the
landing folder) lets a 5-minute schedule pull only what is new."""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from pipelines.adapters.base import Adapted, AdapterError
from pipelines.adapters.landing import write
from pipelines.adapters.registry import FORMATS
from pipelines.contracts import SOURCES

# exporter format -> (adapter module, the attribute naming the series it reads)
CHUNK = timedelta(minutes=15)
SETTLE = timedelta(minutes=5)  # Prometheus' lookback delta: a sample later than this would not count for it either
RETRIES = 3
TIMEOUT_S = 30.0
WATERMARKS = Path("_prometheus") / "watermarks.json"
EPOCH = datetime(1970, 1, 1)


class PrometheusError(AdapterError):
    """The server cannot be read: unreachable, refusing the credentials, or answering only in part."""


@dataclass
class PullSummary:
    url: str
    since: datetime
    until: datetime
    samples: int = 0
    seconds: float = 0.0
    rows: dict[str, int] = field(default_factory=dict)
    read: int = 0
    ignored: int = 0
    quarantined: int = 0
    exporters: list[str] = field(default_factory=list)


def pull(
    url: str,
    landing: Path,
    since: datetime,
    until: datetime | None = None,
    step: timedelta = timedelta(seconds=60),
    region: str = "default",
    chunk: timedelta = CHUNK,
    token: str | None = None,
    settle: timedelta = SETTLE,
) -> PullSummary:
    """Land [since, until) of every exporter the server holds (from its watermark on, when that is later). Without
    `until`, up to `settle` ago: a sample may reach the server that long after its time (remote write, a slow
    scrape), and what the watermark has passed is never read again."""
    started = time.perf_counter()
    client = Client(url, token or os.environ.get("GOODPUT_PROMETHEUS_TOKEN"))
    until = until or datetime.now(UTC).replace(tzinfo=None) - settle
    names = client.names(since, until)
    marks = _read_marks(landing)
    summary = PullSummary(url, since, until)
    for exporter in (f for f in FORMATS.values() if f.series):  # the exporters a Prometheus server scrapes
        fmt, adapter = exporter.name, exporter.load()
        wanted = sorted(set(getattr(adapter, exporter.series)) & names)
        if not wanted:
            continue
        summary.exporters.append(fmt)
        start = _floor(max(since, _mark(marks, url, fmt) or since), step)
        for left in _chunks(start, until, chunk):
            right = min(left + chunk, until)
            adapted, samples = _chunk(client, adapter, fmt, wanted, left, right, step, region)
            _only_new_inventory(adapted, marks.setdefault(url, {}))
            summary.samples += samples
            for source, rows in write(adapted, landing, f"prometheus-{fmt}", _digest(url, fmt, left, right)).items():
                summary.rows[source] = summary.rows.get(source, 0) + rows
            summary.read += adapted.read
            summary.ignored += adapted.ignored
            summary.quarantined += adapted.quarantined
            marks[url][fmt] = right.isoformat()
            _write_marks(landing, marks)  # after each chunk: an interrupted pull resumes where it stopped
    summary.seconds = time.perf_counter() - started
    return summary


INVENTORY_DAYS_KEPT = 3


def _only_new_inventory(adapted: Adapted, marks: dict) -> None:
    """Each chunk sees the GPUs of its day again: land a GPU's inventory row once per day (the GPUs already landed
    are kept in the watermarks), so that the build does not quarantine the repeats as duplicate keys."""
    frame = adapted.tables.get("inventory")
    if frame is None or frame.is_empty():
        return
    seen = marks.setdefault("_inventory", {})
    keep = []
    for (day,), part in frame.group_by("snapshot_date"):
        known = set(seen.get(str(day), []))
        fresh = part.filter(~pl.col("gpu_id").is_in(sorted(known)))
        seen[str(day)] = sorted(known | set(fresh["gpu_id"].to_list()))
        keep.append(fresh)
    for day in sorted(seen)[:-INVENTORY_DAYS_KEPT]:
        del seen[day]
    adapted.tables["inventory"] = pl.concat(keep, how="vertical_relaxed")


def _chunk(client, adapter, fmt: str, names: list[str], left, right, step, region) -> tuple[Adapted, int]:
    """One chunk: the series at every step in [left, right) and the step before, as scrape files, adapted."""
    first, last = left - step, right - timedelta(milliseconds=1)  # the API takes milliseconds
    series = [s for name in names for s in client.range(f'{{__name__="{name}"}}', first, last, step)]
    samples = sum(len(s["values"]) for s in series)
    with tempfile.TemporaryDirectory(prefix="goodput-prometheus-") as folder:
        paths = _as_scrapes(series, Path(folder))
        if not paths:
            return Adapted(), 0
        options = {"region": region} if "region" in adapter.OPTIONS else {}
        adapted = adapter.adapt(paths, **options)
    adapted.tables = {source: _from(frame, source, left) for source, frame in adapted.tables.items()}
    adapted.quarantine = adapted.quarantine.with_columns(pl.lit(f"prometheus:{client.url}").alias("file"))
    return adapted, samples


def _from(frame: pl.DataFrame, source: str, left: datetime) -> pl.DataFrame:
    """The chunk's own rows: the step before it only served as the base of its rates."""
    column = SOURCES[source].time_column
    return frame if column is None or column not in frame.columns else frame.filter(pl.col(column) >= left)


def _as_scrapes(series: list[dict], folder: Path) -> list[Path]:
    """One exposition file per instance and step (`<host>/<ISO time>Z.prom`), samples stamped with their time."""
    lines: dict[tuple[str, int], list[str]] = {}
    for one in series:
        metric = dict(one["metric"])
        name = metric.pop("__name__")
        host = metric.get("instance", "prometheus").rsplit(":", 1)[0] or "prometheus"
        labels = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(metric.items()))
        for stamp, value in one["values"]:
            ms = round(float(stamp) * 1000)
            lines.setdefault((host, ms), []).append(f"{name}{{{labels}}} {value} {ms}")
    paths = []
    for (host, ms), text in sorted(lines.items()):
        at = EPOCH + timedelta(milliseconds=ms)
        path = folder / _safe(host) / f"{at:%Y-%m-%dT%H:%M:%S}Z.prom"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(text) + "\n")
        paths.append(path)
    return paths


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _safe(host: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in host)


class Client:
    """The Prometheus HTTP API with retries; every failure becomes one PrometheusError that says what happened."""

    def __init__(self, url: str, token: str | None = None):
        self.url = url.rstrip("/")
        self.token = token

    def names(self, since: datetime, until: datetime) -> set[str]:
        return set(self._get("/api/v1/label/__name__/values", {"start": _epoch(since), "end": _epoch(until)}))

    def range(self, promql: str, start: datetime, end: datetime, step: timedelta) -> list[dict]:
        params = {"query": promql, "start": _epoch(start), "end": _epoch(end), "step": f"{step.total_seconds():g}s"}
        return self._get("/api/v1/query_range", params)["result"]

    def _get(self, path: str, params: dict):
        request = urllib.request.Request(f"{self.url}{path}?{urllib.parse.urlencode(params)}")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        for attempt in range(RETRIES):
            try:
                with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310 (a configured server)
                    body = json.load(response)
                break
            except urllib.error.HTTPError as error:
                if error.code in (401, 403):
                    raise PrometheusError(
                        f"{self.url}: the server refused the credentials (HTTP {error.code})"
                    ) from None
                if error.code < 500 or attempt == RETRIES - 1:
                    raise PrometheusError(f"{self.url}{path}: HTTP {error.code}: {_reason(error)}") from None
            except (urllib.error.URLError, OSError) as error:
                if attempt == RETRIES - 1:
                    raise PrometheusError(f"{self.url}: unreachable after {RETRIES} tries ({error})") from None
            time.sleep(0.5 * 2**attempt)
        if body.get("status") != "success":
            raise PrometheusError(f"{self.url}{path}: {body.get('errorType')}: {body.get('error')}")
        if body.get("warnings"):
            raise PrometheusError(f"{self.url}{path}: a partial response ({'; '.join(body['warnings'])})")
        return body["data"]


def _reason(error: urllib.error.HTTPError) -> str:
    try:
        return json.loads(error.read()).get("error", error.reason)
    except (ValueError, OSError):
        return str(error.reason)


def _epoch(moment: datetime) -> str:
    return f"{(moment - EPOCH).total_seconds():.3f}"


def _floor(moment: datetime, step: timedelta) -> datetime:
    return EPOCH + (moment - EPOCH) // step * step


def _chunks(start: datetime, until: datetime, chunk: timedelta) -> list[datetime]:
    count = max(0, math.ceil((until - start) / chunk))
    return [start + chunk * i for i in range(count)]


def _digest(url: str, fmt: str, left: datetime, right: datetime) -> str:
    """A chunk's landing file name: the same chunk pulled again replaces its file, never doubles it."""
    return hashlib.blake2b(f"{url}|{fmt}|{left.isoformat()}|{right.isoformat()}".encode(), digest_size=6).hexdigest()


def _read_marks(landing: Path) -> dict:
    path = landing / WATERMARKS
    return json.loads(path.read_text()) if path.exists() else {}


def _write_marks(landing: Path, marks: dict) -> None:
    path = landing / WATERMARKS
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(marks, indent=1, sort_keys=True))
    os.replace(temporary, path)


def _mark(marks: dict, url: str, fmt: str) -> datetime | None:
    value = marks.get(url, {}).get(fmt)
    return datetime.fromisoformat(value) if value else None
