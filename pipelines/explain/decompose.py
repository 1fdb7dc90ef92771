"""The change in goodput between a baseline and a current window, split so that the parts add up exactly.

goodput = availability x allocation x retention x step efficiency, so the log change of goodput is the sum of the
factors' log changes. Each factor is 1 minus its losses over its denominator (paid, healthy, allocated, retained
GPU-minutes), so a factor's log change splits over its loss reasons by the logarithmic mean (LMDI): reason i gets
-delta(loss_i / denominator) / L(F0, F1), where L(a, b) = (a - b) / (ln a - ln b). A reason's change splits over
the values of any dimension into mix (the slice's share of the denominator moved) and rate (the slice's loss rate
moved), by midpoint weights; within one dimension the slices add up to the reason exactly.

Beside the log tree, each reason and family carries `excess_gpu_hours`: the GPU-hours it lost in the current window
beyond what the baseline's loss rate would have lost on the same paid time. These add up exactly to the paid hours
times the drop in goodput, and they stay meaningful where the log tree does not: when a slice loses nearly all of
its GPUs, the factors after availability are ratios of a few GPU-minutes, and a floored zero among them can outweigh
the outage itself in log space."""

from __future__ import annotations

import math
from dataclasses import dataclass

import polars as pl

from pipelines.modeling.project import rollups_from
from pipelines.semantic.losses import FAULT_FAMILIES
from pipelines.semantic.losses import REASONS as LOSS_REASONS

# factor -> (numerator, denominator) GPU-minute columns
FACTORS = {
    "availability": ("healthy_gpu_min", "paid_gpu_min"),
    "allocation": ("allocated_gpu_min", "healthy_gpu_min"),
    "retention": ("retained_gpu_min", "allocated_gpu_min"),
    "step_efficiency": ("productive_gpu_min", "retained_gpu_min"),
}
# reason -> (factor, family, loss column), from the one table of loss reasons
REASONS = {r.reason: (r.factor, r.family, r.column) for r in LOSS_REASONS}
DIMENSIONS = rollups_from("marts.fct_goodput__gpu_minutes")[0]  # the slices the goodput rollups keep
MEASURES = sorted({c for pair in FACTORS.values() for c in pair} | {r[2] for r in REASONS.values()})
TOP_SLICES = 5
FLOOR = 1e-9  # a factor at 0 (every GPU of a slice down or in maintenance) counts as this, never as log(0)


class ExplainError(ValueError):
    """A window with no paid GPU time, or one where a factor cannot be compared."""


@dataclass
class Slice:
    dimension: str
    value: str | None
    change: float
    mix: float
    rate: float

    def as_dict(self) -> dict:
        return {
            "dimension": self.dimension,
            "value": self.value,
            "change": self.change,
            "mix": self.mix,
            "rate": self.rate,
        }


def log_mean(a: float, b: float) -> float:
    """L(a, b) = (a - b) / (ln a - ln b), and a where a = b: the weight that makes log changes additive. A value at
    0 is taken as FLOOR (the zero-value strategy of LMDI): the log stays finite and that change dominates."""
    a, b = max(a, FLOOR), max(b, FLOOR)
    return a if math.isclose(a, b, rel_tol=1e-15, abs_tol=0) else (a - b) / (math.log(a) - math.log(b))


def explain(baseline: pl.DataFrame, current: pl.DataFrame, dimensions: tuple[str, ...] = DIMENSIONS) -> dict:
    """`baseline` and `current` hold summed GPU-minutes (MEASURES) per slice (the `dimensions` columns) of each
    window. Returns the tree: total_change, factors -> reasons (with family and top_slices), families, slices."""
    totals = {name: _sums(frame) for name, frame in (("baseline", baseline), ("current", current))}
    for name, sums in totals.items():
        if sums["paid_gpu_min"] <= 0:
            raise ExplainError(f"the {name} window has no paid GPU time")
    before, after = totals["baseline"], totals["current"]
    goodput = {name: sums["productive_gpu_min"] / sums["paid_gpu_min"] for name, sums in totals.items()}
    factors = []
    families: dict[str, float] = {}
    excess: dict[str, float] = {}
    for factor, (numerator, denominator) in FACTORS.items():
        value0, value1 = (_ratio(s, numerator, denominator) for s in (before, after))
        weight = log_mean(value1, value0)
        reasons = []
        for reason, (owner, family, loss) in REASONS.items():
            if owner != factor:
                continue
            share0, share1 = (_ratio(s, loss, denominator, empty=0.0) for s in (before, after))
            change = -(share1 - share0) / weight
            slices = _top_slices(baseline, current, loss, denominator, weight, dimensions)
            hours = (after[loss] - before[loss] / before["paid_gpu_min"] * after["paid_gpu_min"]) / 60
            reasons.append(
                {"reason": reason, "family": family, "change": change, "excess_gpu_hours": hours, "top_slices": slices}
            )
            families[family] = families.get(family, 0.0) + change
            excess[family] = excess.get(family, 0.0) + hours
        reasons.sort(key=lambda r: r["change"])
        factors.append(
            {
                "factor": factor,
                "baseline": value0,
                "current": value1,
                # the log change; where a factor hit 0, the sum of its reasons (what the floored weights give)
                "change": math.log(value1) - math.log(value0)
                if min(value0, value1) > 0
                else sum(r["change"] for r in reasons),
                "reasons": reasons,
            }
        )
    total = (
        math.log(goodput["current"]) - math.log(goodput["baseline"])
        if min(goodput.values()) > 0
        else sum(f["change"] for f in factors)
    )
    return {
        "baseline_goodput": goodput["baseline"],
        "current_goodput": goodput["current"],
        "total_change": total,
        "factors": factors,
        "families": dict(sorted(families.items(), key=lambda kv: kv[1])),
        # what broke apart from how the GPUs were used: fewer notebooks never hide a slower framework
        "largest_fault_family": _largest_fault(families, excess),
        "fault_families": {f: families[f] for f in sorted(families, key=families.get) if f in FAULT_FAMILIES},
        "other_families": {f: families[f] for f in sorted(families, key=families.get) if f not in FAULT_FAMILIES},
        # GPU-hours lost beyond the baseline's rates, largest first: they add up to paid hours x the goodput drop
        "excess_gpu_hours": after["paid_gpu_min"] * (goodput["baseline"] - goodput["current"]) / 60,
        "families_excess_gpu_hours": dict(sorted(excess.items(), key=lambda kv: -kv[1])),
        "slices": _goodput_slices(baseline, current, total, dimensions),
    }


# a family's change smaller than this (in log goodput) is rounding, not a loss: a family with no loss in either
# window sums its reasons' shares to -1e-18 or so, which must not name it the largest fault while goodput rose
NO_CHANGE = 1e-9


def _largest_fault(families: dict[str, float], excess: dict[str, float]) -> dict | None:
    """The fault family that lost the most log goodput against the baseline; None when none lost any."""
    faults = [f for f in FAULT_FAMILIES if f in families]
    worst = min(faults, key=families.get, default=None)
    if worst is None or families[worst] > -NO_CHANGE:
        return None
    return {"family": worst, "change": families[worst], "excess_gpu_hours": excess[worst]}


def _sums(frame: pl.DataFrame) -> dict[str, float]:
    row = frame.select(pl.col(MEASURES).sum()).row(0, named=True)
    return {k: float(v or 0.0) for k, v in row.items()}


def _ratio(sums: dict, numerator: str, denominator: str, empty: float = 1.0) -> float:
    """A factor with nothing to divide is 1 (its loss already sits in an earlier factor); a loss share is 0."""
    return sums[numerator] / sums[denominator] if sums[denominator] > 0 else empty


def _by(frame: pl.DataFrame, dimension: str, columns: list[str]) -> pl.DataFrame:
    return frame.group_by(dimension).agg(pl.col(columns).sum())


def _mix_and_rate(baseline, current, dimension: str, numerator: str, denominator: str) -> pl.DataFrame:
    """Per value of the dimension: the midpoint split of delta(sum numerator / sum denominator) into mix (share of
    the denominator moved) and rate (numerator per denominator moved). The rows add up to the whole delta."""
    columns = [numerator, denominator]
    joined = (
        _by(baseline, dimension, columns)
        .join(_by(current, dimension, columns), on=dimension, how="full", coalesce=True, suffix="_1", nulls_equal=True)
        .fill_null(0.0)
    )
    total0, total1 = joined[denominator].sum(), joined[f"{denominator}_1"].sum()
    share0 = pl.col(denominator) / total0 if total0 > 0 else pl.lit(0.0)
    share1 = pl.col(f"{denominator}_1") / total1 if total1 > 0 else pl.lit(0.0)
    rate0 = pl.when(pl.col(denominator) > 0).then(pl.col(numerator) / pl.col(denominator)).otherwise(None)
    rate1 = pl.when(pl.col(f"{denominator}_1") > 0).then(pl.col(f"{numerator}_1") / pl.col(f"{denominator}_1"))
    # a slice present in one window only has the other window's rate for its missing side: all of it is mix
    rate0, rate1 = pl.coalesce(rate0, rate1, pl.lit(0.0)), pl.coalesce(rate1, rate0, pl.lit(0.0))
    return joined.select(
        pl.col(dimension).cast(pl.String).alias("value"),
        ((share1 - share0) * (rate0 + rate1) / 2).alias("mix"),
        ((share0 + share1) / 2 * (rate1 - rate0)).alias("rate"),
    )


def _top_slices(baseline, current, loss, denominator, weight, dimensions) -> list[dict]:
    """The slices that carry a reason's change, in log-goodput units (a loss that grew is negative)."""
    found = []
    for dimension in dimensions:
        parts = _mix_and_rate(baseline, current, dimension, loss, denominator)
        for value, mix, rate in parts.iter_rows():
            change = -(mix + rate) / weight
            if change != 0:
                found.append(Slice(dimension, value, change, -mix / weight, -rate / weight))
    found.sort(key=lambda s: -abs(s.change))
    return [s.as_dict() for s in found[:TOP_SLICES]]


def _goodput_slices(baseline, current, total: float, dimensions) -> list[dict]:
    """The slices that carry the whole change of goodput (productive over paid), in log units."""
    g0 = _sums(baseline)["productive_gpu_min"] / _sums(baseline)["paid_gpu_min"]
    g1 = _sums(current)["productive_gpu_min"] / _sums(current)["paid_gpu_min"]
    weight = log_mean(g1, g0)
    found = []
    for dimension in dimensions:
        parts = _mix_and_rate(baseline, current, dimension, "productive_gpu_min", "paid_gpu_min")
        for value, mix, rate in parts.iter_rows():
            found.append(Slice(dimension, value, (mix + rate) / weight, mix / weight, rate / weight))
    found.sort(key=lambda s: -abs(s.change))
    return [s.as_dict() for s in found[: TOP_SLICES * 2]]
