"""Kubernetes to scheduler_events: kube-state-metrics scrapes (Prometheus text) and Event objects as JSON
(`kubectl get events -o json`). A pod is a job (`namespace/pod`), one attempt.

From kube-state-metrics: kube_pod_created -> submitted, kube_pod_start_time -> started, a phase of Succeeded or
Failed -> ended (completed, failed) at the scrape, a container terminated as OOMKilled -> the failure reason, GPU
requests (`resource="nvidia_com_gpu"`) -> gpus. From Events: FailedScheduling -> pending (its message the reason),
Preempted -> ended as preempted, OOMKilling/OOMKilled -> ended as failed, BackOff -> requeued. A key seen twice
(the same pod pending in every scrape) keeps its first time."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import polars as pl

from pipelines.adapters import prometheus
from pipelines.adapters.base import Adapted, bad_lines, scrape_time

SUFFIXES = (".prom", ".txt", ".metrics", ".json")
OPTIONS = ("at",)
EVENT_REASONS = {
    "FailedScheduling": ("pending", None),
    "Preempted": ("ended", "preempted"),
    "Preempting": ("ended", "preempted"),
    "OOMKilling": ("ended", "failed"),
    "OOMKilled": ("ended", "failed"),
    "BackOff": ("requeued", None),
    "Scheduled": ("started", None),
}
USED = {
    "kube_pod_created",
    "kube_pod_start_time",
    "kube_pod_status_phase",
    "kube_pod_container_status_terminated_reason",
    "kube_pod_container_resource_requests",
}
SCHEMA = {
    "job_id": pl.String,
    "event_at": pl.Datetime("us"),
    "event_type": pl.String,
    "state": pl.String,
    "reason": pl.String,
    "gpus": pl.Float64,
}


def adapt(paths: list[Path], at: datetime | None = None) -> Adapted:
    result = Adapted()
    events = []
    for path in paths:
        found, part = _events(path, at) if path.suffix == ".json" else _metrics(path, at)
        events.append(found)
        result = result.add(part)
    frame = pl.concat(events, how="vertical_relaxed") if events else pl.DataFrame(schema=SCHEMA)
    frame = frame.sort("event_at").unique(["job_id", "event_type"], keep="first", maintain_order=True)
    gpus = frame.group_by("job_id").agg(pl.col("gpus").max())
    frame = frame.drop("gpus").join(gpus, on="job_id", how="left").with_columns(pl.lit(0, pl.Int32).alias("attempt"))
    result.tables = {"scheduler_events": frame}
    return result


def _metrics(path: Path, at: datetime | None) -> tuple[pl.DataFrame, Adapted]:
    parsed = prometheus.read_exposition(path)
    taken = scrape_time(path, at)
    samples = prometheus.with_labels(parsed.samples, ["namespace", "pod", "phase", "reason", "resource"])
    used = samples.filter(pl.col("name").is_in(list(USED)) & pl.col("pod").is_not_null())
    job = pl.concat_str(pl.col("namespace").fill_null("default"), pl.lit("/"), pl.col("pod")).alias("job_id")
    seconds = pl.from_epoch((pl.col("value") * 1e6).cast(pl.Int64), time_unit="us")
    name, phase, value = pl.col("name"), pl.col("phase"), pl.col("value")
    rows = used.select(
        job,
        pl.when(name.is_in(["kube_pod_created", "kube_pod_start_time"]))
        .then(seconds)
        .otherwise(pl.lit(taken))
        .alias("event_at"),
        pl.when(name == "kube_pod_created")
        .then(pl.lit("submitted"))
        .when(name == "kube_pod_start_time")
        .then(pl.lit("started"))
        .when((name == "kube_pod_status_phase") & (value == 1) & phase.is_in(["Succeeded", "Failed"]))
        .then(pl.lit("ended"))
        .when((name == "kube_pod_status_phase") & (value == 1) & (phase == "Pending"))
        .then(pl.lit("pending"))
        .alias("event_type"),
        pl.when(phase == "Succeeded")
        .then(pl.lit("completed"))
        .when(phase == "Failed")
        .then(pl.lit("failed"))
        .alias("state"),
        pl.lit(None, pl.String).alias("reason"),
        pl.when((name == "kube_pod_container_resource_requests") & (pl.col("resource") == "nvidia_com_gpu"))
        .then(value)
        .alias("gpus"),
        pl.when((name == "kube_pod_container_status_terminated_reason") & (value == 1))
        .then(pl.col("reason"))
        .alias("_terminated"),
    )
    reasons = rows.group_by("job_id").agg(pl.col("_terminated").drop_nulls().first())
    gpus = rows.group_by("job_id").agg(pl.col("gpus").sum())
    found = rows.filter(pl.col("event_type").is_not_null()).drop("gpus", "_terminated")
    found = found.join(reasons, on="job_id", how="left").join(gpus, on="job_id", how="left")
    found = found.with_columns(
        pl.when(pl.col("event_type") == "ended").then(pl.col("_terminated")).alias("reason")
    ).drop("_terminated")
    ignored = parsed.samples.height - used.height
    bad = bad_lines(path, parsed.bad, pl.col("reason"))
    return found.select(SCHEMA.keys()).cast(SCHEMA), Adapted(
        quarantine=bad, read=parsed.samples.height + bad.height, ignored=ignored, files=1
    )


def _events(path: Path, at: datetime | None) -> tuple[pl.DataFrame, Adapted]:
    try:
        document = json.loads(path.read_bytes().decode("utf-8", errors="replace"))
    except json.JSONDecodeError as error:
        bad = pl.DataFrame({"line": [error.lineno], "text": [error.msg]})
        return pl.DataFrame(schema=SCHEMA), Adapted(quarantine=bad_lines(path, bad, "not JSON"), read=1, files=1)
    items = document.get("items", []) if isinstance(document, dict) else document
    rows, bad, ignored = [], [], 0
    for number, item in enumerate(items, start=1):
        obj = item.get("involvedObject", {}) if isinstance(item, dict) else {}
        reason = item.get("reason") if isinstance(item, dict) else None
        when = _time(item.get("eventTime") or item.get("lastTimestamp") or item.get("firstTimestamp")) if obj else None
        if reason not in EVENT_REASONS or obj.get("kind") != "Pod":
            ignored += 1
            continue
        if when is None or not obj.get("name"):
            bad.append((number, f"{reason} event without a pod name or a time", json.dumps(item)[:500]))
            continue
        event_type, state = EVENT_REASONS[reason]
        job = f"{obj.get('namespace') or 'default'}/{obj['name']}"
        text = reason if event_type == "ended" else (item.get("message") or reason)
        rows.append({"job_id": job, "event_at": when, "event_type": event_type, "state": state, "reason": text})
    quarantine = (
        bad_lines(
            path,
            pl.DataFrame(
                {"line": [b[0] for b in bad], "text": [b[2] for b in bad]}, schema={"line": pl.Int64, "text": pl.String}
            ),
            pl.Series([b[1] for b in bad], dtype=pl.String),
        )
        if bad
        else Adapted().quarantine
    )
    frame = pl.DataFrame(rows, schema={k: v for k, v in SCHEMA.items() if k != "gpus"}).with_columns(
        pl.lit(None, pl.Float64).alias("gpus")
    )
    return frame, Adapted(quarantine=quarantine, read=len(items), ignored=ignored, files=1)


def _time(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=None) if text else None
    except ValueError:
        return None
