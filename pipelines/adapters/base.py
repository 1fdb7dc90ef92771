"""What every adapter returns, and the small readings they share: the time of a scrape, SKU names, hex bitmasks."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import polars as pl

from pipelines.config import read_yaml
from pipelines.contracts import SOURCES

QUARANTINE_SCHEMA = {"file": pl.String, "line": pl.Int64, "reason": pl.String, "text": pl.String}
# a timestamp in a scrape's file name: 2026-03-02T10:00:15Z, 20260302T100015Z or 10-digit epoch seconds
ISO_IN_NAME = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})[T_ ]?(\d{2})[:-]?(\d{2})[:-]?(\d{2})")
EPOCH_IN_NAME = re.compile(r"(?<!\d)(1\d{9})(?:\.\d+)?(?!\d)")
SKUS = Path(__file__).resolve().parents[1] / "config" / "skus.yml"


class AdapterError(ValueError):
    """Input an adapter cannot read at all (a missing file, a wrong format); bad lines are quarantined instead."""


@dataclass
class Adapted:
    """Rows per contract source (columns named as the contract), the lines that could not be used and why, and the
    counts that reconcile: records read = used + ignored (known, but nothing in the contracts holds them) +
    quarantined."""

    tables: dict[str, pl.DataFrame] = field(default_factory=dict)
    quarantine: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=QUARANTINE_SCHEMA))
    read: int = 0
    ignored: int = 0
    files: int = 0

    @property
    def quarantined(self) -> int:
        return self.quarantine.height

    @property
    def used(self) -> int:
        return self.read - self.ignored - self.quarantined

    def add(self, other: Adapted) -> Adapted:
        tables = dict(self.tables)
        for name, frame in other.tables.items():
            tables[name] = pl.concat([tables[name], frame], how="diagonal_relaxed") if name in tables else frame
        return Adapted(
            tables,
            pl.concat([self.quarantine, other.quarantine], how="vertical_relaxed"),
            self.read + other.read,
            self.ignored + other.ignored,
            self.files + other.files,
        )


def bad_lines(file: Path, frame: pl.DataFrame, reason: str | pl.Expr) -> pl.DataFrame:
    """Quarantine rows for `frame` (with `line` and `text`) under one reason or a reason column."""
    reason_expr = pl.lit(reason) if isinstance(reason, str) else reason
    return frame.select(
        pl.lit(str(file)).alias("file"),
        pl.col("line").cast(pl.Int64),
        reason_expr.cast(pl.String).alias("reason"),
        pl.col("text").cast(pl.String),
    )


def scrape_time(path: Path, at: datetime | None = None) -> datetime:
    """When a scrape without sample timestamps was taken: `at` if given, else a time in its file name, else the
    file's modification time (UTC, naive)."""
    return at or time_in_name(path) or modified_at(path)


def time_in_name(path: Path) -> datetime | None:
    match = ISO_IN_NAME.search(path.name)
    if match:
        try:
            return datetime(*(int(g) for g in match.groups()))
        except ValueError:
            pass
    match = EPOCH_IN_NAME.search(path.name)
    if match:
        return datetime.fromtimestamp(int(match.group(1)), UTC).replace(tzinfo=None)
    return None


def modified_at(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC).replace(tzinfo=None)


@cache
def known_skus() -> dict[str, dict]:
    return read_yaml(SKUS.read_text())


def sku_of(model_name: str | None) -> str | None:
    """The fleet's SKU name for a vendor model name ("NVIDIA H100 80GB HBM3" -> H100-SXM-80GB, when skus.yml has
    it); otherwise the model name without the vendor, upper-cased and dashed ("Tesla T4" -> T4)."""
    if not model_name:
        return None
    tokens = [t for t in re.split(r"[\s-]+", model_name.strip().upper()) if t not in ("NVIDIA", "TESLA", "")]
    for sku in known_skus():
        family, *rest = sku.upper().split("-")
        memory = [t for t in rest if t.endswith("GB")]
        form = [t for t in rest if not t.endswith("GB")]
        named_form = [t for t in tokens if t.startswith(("PCIE", "SXM", "NVL"))]
        same_form = not named_form or any(t.startswith(f) for t in named_form for f in form)
        if tokens and tokens[0] == family and all(m in tokens for m in memory) and same_form:
            return sku
    return "-".join(tokens) or None


# rated board power (W) and framebuffer (MiB) of common models outside skus.yml, from the vendors' data sheets
DATA_SHEETS = {
    "T4": (70.0, 15360),
    "A10G": (300.0, 23028),
    "A10": (150.0, 23028),
    "L4": (72.0, 23034),
    "L40S": (350.0, 46068),
    "L40": (300.0, 46068),
    "V100-SXM2-32GB": (300.0, 32768),
    "A100-SXM-40GB": (400.0, 40960),
    "A100-PCIE-40GB": (250.0, 40960),
    "A100-PCIE-80GB": (300.0, 81920),
    "H100-PCIE": (350.0, 81559),
    "H200": (700.0, 143771),
}


def tdp_of(sku: str | None) -> float | None:
    spec = known_skus().get(sku or "")
    if spec:
        return float(spec["tdp_w"])
    return DATA_SHEETS.get(sku or "", (None, None))[0]


def memory_of(sku: str | None) -> int | None:
    spec = known_skus().get(sku or "")
    if spec:
        return int(spec["mem_mib"])
    return DATA_SHEETS.get(sku or "", (None, None))[1]


def hex_mask(column: str) -> pl.Expr:
    """'0x0000000000000001' (or a plain integer) as a bitmask; '[N/A]' and the like as null."""
    text = pl.col(column).cast(pl.String).str.strip_chars().str.to_lowercase()
    as_hex = text.str.strip_prefix("0x").str.to_integer(base=16, strict=False)
    return pl.when(text.str.starts_with("0x")).then(as_hex).otherwise(text.str.to_integer(strict=False))


def contract_columns(source: str) -> list[str]:
    return SOURCES[source].column_names
