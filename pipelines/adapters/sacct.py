"""Slurm `sacct --parsable2 --noheader` (26 fields in the order SOURCES.md gives, or any order under a header line)
to job_metadata and scheduler_events.

Job steps (`.batch`, `.extern`, `.0`) are not jobs: read and ignored. Array tasks are jobs of their own; a pending
array line `123_[1-3,9%2]` is expanded into its tasks. `Unknown` and `None` times are null; a job without a
submit time cannot be placed in time and is quarantined. Times are read as UTC (sacct prints the cluster's local
time; run it with TZ=UTC). The account is the team (chargeback unit); the cluster is the region. Slurm has no
workload class: a partition or QOS named interactive/debug is `interactive`, a job on more than one node
`distributed`, the rest `batch`."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import polars as pl

from pipelines.adapters.base import Adapted, bad_lines, sku_of

SUFFIXES = (".log", ".txt", ".sacct", ".psv")
OPTIONS = ("region",)
COLUMNS = (
    "jobid jobidraw cluster partition qos account group gid user uid submit eligible start end elapsed exitcode "
    "state nnodes ncpus reqcpus reqmem reqtres alloctres timelimit nodelist jobname"
).split()
STATES = {
    "COMPLETED": "completed",
    "FAILED": "failed",
    "OUT_OF_MEMORY": "failed",
    "CANCELLED": "cancelled",
    "TIMEOUT": "timeout",
    "DEADLINE": "timeout",
    "PREEMPTED": "preempted",
    "NODE_FAIL": "node_fail",
    "BOOT_FAIL": "node_fail",
}
GPU_TRES = re.compile(r"gres/gpu(?::([\w.-]+))?=(\d+)")
ARRAY_RANGE = re.compile(r"^(\d+)_\[([0-9,\-%]+)\]$")


def adapt(paths: list[Path], region: str = "default") -> Adapted:
    result = Adapted()
    jobs: dict[str, dict] = {}
    bad: list[tuple[Path, int, str, str]] = []
    for path in paths:
        result.files += 1
        lines = path.read_bytes().decode("utf-8", errors="replace").splitlines()
        columns = COLUMNS
        for number, text in enumerate(lines, start=1):
            if not text.strip():
                continue
            fields = text.split("|")
            if number == 1 and fields[0].strip().lower() == "jobid":
                columns = [f.strip().lower() for f in fields]
                continue
            result.read += 1
            if len(fields) != len(columns) or "jobid" not in columns:
                bad.append((path, number, f"{len(fields)} fields, expected {len(columns)}", text))
                continue
            row = dict(zip(columns, fields, strict=True))
            if "." in row["jobid"]:
                result.ignored += 1  # a step of a job
                continue
            try:
                for job in _jobs(row, region):
                    jobs[job["job_id"]] = job  # a job listed again (overlapping array ranges): the later line wins
            except ValueError as error:
                bad.append((path, number, str(error), text))
    result.quarantine = pl.concat(
        [bad_lines(Path(p), pl.DataFrame({"line": [n], "text": [t]}), r) for p, n, r, t in bad] or [result.quarantine],
        how="vertical_relaxed",
    )
    job_rows = list(jobs.values())
    result.tables = {"job_metadata": _metadata(job_rows), "scheduler_events": _events(job_rows)}
    return result


def _jobs(row: dict, region: str) -> list[dict]:
    submitted = _time(row.get("submit"))
    if submitted is None:
        raise ValueError(f"no usable submit time ({row.get('submit')!r})")
    state_word, _, rest = row.get("state", "").strip().partition(" ")
    tres = row.get("alloctres") or row.get("reqtres") or ""
    gpus, gpu_type = _gpus(tres) if GPU_TRES.search(tres) else _gpus(row.get("reqtres", ""))
    nodes = _hostlist(row.get("nodelist", ""))
    n_nodes = _int(row.get("nnodes")) or len(nodes)
    base = {
        "submitted_at": submitted,
        "started_at": _time(row.get("start")),
        "ended_at": _time(row.get("end")),
        "team": row.get("account") or None,
        "user_name": row.get("user") or None,
        "region": row.get("cluster") or region,
        "queue": row.get("partition") or None,
        "workload_class": _workload_class(row, n_nodes),
        "requested_gpus": float(gpus),
        "requested_sku": sku_of(gpu_type) if gpu_type else None,
        "requested_cpus": _int(row.get("reqcpus")),
        "requested_mem_gib": _memory_gib(row.get("reqmem", ""), _int(row.get("ncpus")), n_nodes),
        "state": STATES.get(state_word.upper().rstrip("+")),
        "reason": " ".join([state_word.lower(), rest]).strip() if rest or state_word == "OUT_OF_MEMORY" else None,
        "exit_code": _int(row.get("exitcode", "").split(":")[0]),
        "node_ids": ",".join(nodes) or None,
    }
    jobid = row["jobid"].strip()
    array = ARRAY_RANGE.match(jobid)
    if array:
        return [base | {"job_id": f"{array.group(1)}_{task}"} for task in _ranges(array.group(2).split("%")[0])]
    return [base | {"job_id": jobid}]


def _metadata(jobs: list[dict]) -> pl.DataFrame:
    keep = ["job_id", "submitted_at", "team", "user_name", "region", "workload_class", "requested_gpus"]
    keep += ["requested_sku", "requested_cpus", "requested_mem_gib", "queue"]
    frame = pl.DataFrame([{k: j[k] for k in keep} for j in jobs], schema_overrides=_TYPES, infer_schema_length=None)
    return frame.with_columns(pl.lit(False).alias("reports_steps")) if jobs else frame


def _events(jobs: list[dict]) -> pl.DataFrame:
    events = []
    for job in jobs:
        common = {"job_id": job["job_id"], "attempt": 0, "queue": job["queue"], "gpus": job["requested_gpus"]}
        events.append(common | {"event_type": "submitted", "event_at": job["submitted_at"]})
        if job["started_at"] is not None:
            events.append(
                common | {"event_type": "started", "event_at": job["started_at"], "node_ids": job["node_ids"]}
            )
        if job["ended_at"] is not None and job["state"] is not None:
            ended = {"event_type": "ended", "event_at": job["ended_at"], "node_ids": job["node_ids"]}
            ended |= {"state": job["state"], "exit_code": job["exit_code"], "reason": job["reason"]}
            events.append(common | ended)
    return pl.DataFrame(events, schema_overrides=_TYPES, infer_schema_length=None)


_TYPES = {"submitted_at": pl.Datetime("us"), "event_at": pl.Datetime("us"), "requested_gpus": pl.Float64}


def _time(text: str | None) -> datetime | None:
    text = (text or "").strip()
    if text in ("", "Unknown", "None", "N/A"):
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"unparseable time {text!r}") from None


def _int(text: str | None) -> int | None:
    text = (text or "").strip()
    return int(text) if text.lstrip("-").isdigit() else None


def _gpus(tres: str) -> tuple[int, str | None]:
    """GPUs in a TRES string: the untyped `gres/gpu=N` when present, else the sum of the typed ones."""
    found = GPU_TRES.findall(tres)
    untyped = [int(n) for kind, n in found if not kind]
    typed = [(kind, int(n)) for kind, n in found if kind]
    count = untyped[0] if untyped else sum(n for _, n in typed)
    return count, typed[0][0] if typed else None


def _memory_gib(text: str, cpus: int | None, nodes: int) -> float | None:
    """'3000Mc' is per CPU, '64Gn' per node; a bare size is per node."""
    match = re.fullmatch(r"\s*([0-9.]+)([KMGT]?)([cn]?)\s*", text or "")
    if not match:
        return None
    size = (
        float(match.group(1)) * {"K": 1 / 1024**2, "M": 1 / 1024, "G": 1.0, "T": 1024.0, "": 1 / 1024}[match.group(2)]
    )
    per = (cpus or 0) if match.group(3) == "c" else max(nodes, 1)
    return round(size * per, 3)


def _workload_class(row: dict, nodes: int) -> str:
    names = f"{row.get('partition', '')} {row.get('qos', '')}".lower()
    if "interactive" in names or "debug" in names:
        return "interactive"
    return "distributed" if nodes > 1 else "batch"


def _ranges(spec: str) -> list[int]:
    """'1-3,9' -> [1, 2, 3, 9]."""
    values = []
    for part in spec.split(","):
        low, _, high = part.partition("-")
        values += range(int(low), int(high or low) + 1)
    return values


def _hostlist(text: str) -> list[str]:
    """Slurm host ranges: 'd09n04s[01-02],d13n[03,05]' -> d09n04s01, d09n04s02, d13n03, d13n05 (widths kept)."""
    text = (text or "").strip()
    if text in ("", "None assigned", "(null)"):
        return []
    hosts = []
    for prefix, ranges, plain in re.findall(r"([^,\[]+)\[([^\]]+)\]|([^,\[\]]+)", text):
        if plain:
            hosts.append(plain)
            continue
        for part in ranges.split(","):
            low, _, high = part.partition("-")
            hosts += [f"{prefix}{i:0{len(low)}d}" for i in range(int(low), int(high or low) + 1)]
    return hosts
