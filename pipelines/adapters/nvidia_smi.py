"""`nvidia-smi --query-gpu=... --format=csv` output to gpu_telemetry and inventory.

Any column order and subset; units in the header (`power.draw [W]`) and in the values (`631.95 W`); `[N/A]` and
`[Not Supported]` as null; `clocks_throttle_reasons.*` read under its newer name `clocks_event_reasons.*`. The CSV
has no host name: `--node` gives it, else the file name up to its first dot. `--query-compute-apps` files (a
process per GPU) are read and counted, but no contract holds processes yet."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import polars as pl

from pipelines.adapters import gpu_minutes
from pipelines.adapters.base import Adapted, bad_lines, hex_mask

SUFFIXES = (".csv",)
OPTIONS = ("region", "node")
MISSING = {"[n/a]", "n/a", "[not supported]", "not supported", "[unknown error]", "[insufficient permissions]", ""}
# contract-side field -> the query fields that give it, in order of preference
FIELDS = {
    "at": ["timestamp"],
    "gpu": ["index"],
    "uuid": ["uuid"],
    "model": ["name"],
    "gpu_util_pct": ["utilization.gpu"],
    "mem_used_mib": ["memory.used"],
    "mem_total_mib": ["memory.total"],
    "power_w": ["power.draw", "power.draw.average", "power.draw.instant"],
    "power_limit_w": ["power.default_limit", "enforced.power.limit", "power.limit"],
    "temp_c": ["temperature.gpu"],
    "sm_clock_mhz": ["clocks.current.sm", "clocks.sm"],
    "ecc_corrected_total": ["ecc.errors.corrected.volatile.total"],
    "ecc_uncorrected_total": ["ecc.errors.uncorrected.volatile.total"],
    "throttle_reasons": ["clocks_event_reasons.active"],
}
TIME_FORMATS = ("%Y/%m/%d %H:%M:%S%.f", "%Y/%m/%d %H:%M:%S", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f")


def adapt(paths: list[Path], region: str = "default", node: str | None = None) -> Adapted:
    result = Adapted()
    readings = []
    for path in paths:
        table, bad, ignored = _read(path, node or path.name.split(".")[0])
        result = result.add(Adapted(quarantine=bad, read=table.height + bad.height + ignored, ignored=ignored, files=1))
        if not table.is_empty():
            readings.append(table)
    if readings:
        frame = pl.concat(readings, how="diagonal_relaxed")
        result.tables = {"gpu_telemetry": gpu_minutes.minutes(frame), "inventory": gpu_minutes.inventory(frame, region)}
    return result


def header_name(raw: str) -> str:
    """'power.draw [W]' -> 'power.draw'; 'clocks_throttle_reasons.active' -> 'clocks_event_reasons.active'."""
    name = re.sub(r"\s*\[[^\]]*\]\s*$", "", raw.strip()).lower()
    return name.replace("clocks_throttle_reasons", "clocks_event_reasons")


def _read(path: Path, node: str) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """Readings of one query-gpu file (empty for a compute-apps file, whose rows count as ignored), the rows that
    could not be used, and the ignored count."""
    text = path.read_bytes().decode("utf-8", errors="replace")
    rows = list(csv.reader(io.StringIO(text), skipinitialspace=True))
    if not rows:
        return pl.DataFrame(), _bad(path, [], "empty file"), 0
    header = [header_name(h) for h in rows[0]]
    body = [(number, row) for number, row in enumerate(rows[1:], start=2) if any(cell.strip() for cell in row)]
    if "pid" in header:
        return pl.DataFrame(), _bad(path, [], ""), len(body)
    if "timestamp" not in header or ("index" not in header and "uuid" not in header):
        return pl.DataFrame(), _bad(path, [(1, rows[0])], "not --query-gpu CSV: no timestamp and index/uuid"), 0
    ragged = [(n, r) for n, r in body if len(r) != len(header)]
    good = [(n, r) for n, r in body if len(r) == len(header)]
    columns = {
        name: [None if r[i].strip().lower() in MISSING else r[i].strip() for _, r in good]
        for i, name in enumerate(header)
    }
    frame = pl.DataFrame({"line": [n for n, _ in good], **columns}, schema_overrides={h: pl.String for h in header})
    picked = {}
    for target, names in FIELDS.items():
        present = [n for n in names if n in frame.columns]
        picked[target] = pl.coalesce([pl.col(n) for n in present]) if present else pl.lit(None, pl.String)
    frame = frame.select("line", **picked)
    numbers = [f for f in FIELDS if f not in ("at", "gpu", "uuid", "model", "throttle_reasons")]
    frame = frame.with_columns(
        pl.coalesce([pl.col("at").str.strptime(pl.Datetime("us"), f, strict=False) for f in TIME_FORMATS]).alias("at"),
        *[_number(f) for f in numbers],
        hex_mask("throttle_reasons").alias("throttle_reasons"),
        pl.coalesce("gpu", pl.col("uuid")).alias("gpu"),
        pl.lit(node).alias("node_id"),
    )
    unreadable_time = frame.filter(pl.col("at").is_null())
    source_text = {n: ", ".join(r) for n, r in body}
    bad = pl.concat(
        [
            _bad(path, ragged, "row has a different number of fields than the header (truncated?)"),
            _bad(path, [(n, [source_text[n]]) for n in unreadable_time["line"].to_list()], "unparseable timestamp"),
        ],
        how="vertical_relaxed",
    )
    return frame.filter(pl.col("at").is_not_null()).drop("line"), bad, 0


def _number(name: str) -> pl.Expr:
    """'631.95 W' -> 631.95; '45 %' -> 45."""
    return pl.col(name).str.extract(r"^\s*(-?[0-9]+(?:\.[0-9]+)?)", 1).cast(pl.Float64).alias(name)


def _bad(path: Path, rows: list[tuple[int, list[str]]], reason: str) -> pl.DataFrame:
    frame = pl.DataFrame(
        {"line": [n for n, _ in rows], "text": [", ".join(r) for _, r in rows]},
        schema={"line": pl.Int64, "text": pl.String},
    )
    return bad_lines(path, frame, reason)
