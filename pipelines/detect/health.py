"""GPU health rules and the time-to-critical trend: per-GPU minutes where a rule's condition held, with the SKU's
threshold from the YAML, turned into episodes. Queries are sqlglot expressions; thresholds enter as literals
validated by the config, never as text."""

from __future__ import annotations

from datetime import datetime
from functools import reduce

import duckdb
import polars as pl
import sqlglot
from sqlglot import exp

from pipelines.detect.config import HealthConfig, HealthRule
from pipelines.detect.episodes import episodes
from pipelines.warehouse.connection import fetch

SIGNALS = {
    "temp_c": "g.temp_c",
    "power_share": "g.power_w / nullif(d.tdp_w, 0)",
    "throttle_reasons": "g.throttle_reasons",
    "ecc_uncorrected_count": "g.ecc_uncorrected_count",
    "ecc_corrected_count": "g.ecc_corrected_count",
    "xid": "g.xid",
    "mem_used_share": "g.mem_used_mib / nullif(d.gpu_mem_mib, 0)",
}
KEYS = ["gpu_id", "node_id", "region", "sku"]
# rolling sums are computed only over the minutes that had errors (a sparse series), which gives the same sums
ROLLING = {"ecc_corrected_5min": ("ecc_corrected_count", 5)}


SCANNED = "telemetry"  # the one scan of the window's GPU minutes that every rule reads


def _scan(candidates: list[exp.Expression]) -> exp.Select:
    """GPU minutes outside planned maintenance in the window ($start, $end) where some rule or trend could hold,
    every signal a column: one scan per evaluation instead of one per rule, which kept the whole day of the fleet
    (eleven times) until each rule's per-SKU threshold could be applied after the joins."""
    return (
        exp.select(
            "g.gpu_id",
            "g.node_id",
            "d.region",
            "d.sku",
            "g.minute_at",
            *[sqlglot.parse_one(sql, read="duckdb").as_(name) for name, sql in SIGNALS.items()],
        )
        .from_("staging.stg_gpu_telemetry__minutes as g")
        .join("marts.dim_gpus as d", on="d.gpu_id = g.gpu_id")
        .join(
            "intermediate.int_nodes__maintenance_minutes as m",
            on="m.node_id = g.node_id and m.minute_at = g.minute_at",
            join_type="anti",
        )
        .where("g.minute_at >= $start and g.minute_at < $end")
        .where(exp.or_(*candidates))
    )


def _signal(name: str) -> exp.Expression:
    return sqlglot.parse_one(SIGNALS[ROLLING.get(name, (name, 0))[0]], read="duckdb")


def _lowest(rule: HealthRule) -> float:
    return min(v for v in rule.thresholds.values() if not isinstance(v, list))


def _codes(rule: HealthRule) -> list:
    """The codes an "in" rule lists (its default applies to every SKU)."""
    return rule.threshold("__default__") if "default" in rule.thresholds else []


def _trend_signal(signal: str) -> str:
    """The series a trend fits: correctable ECC errors as their 5-minute sum."""
    return "ecc_corrected_5min" if signal == "ecc_corrected_count" else signal


def _could_hold(rule: HealthRule) -> exp.Expression:
    """A bound on the raw signal below which the rule holds for no SKU (a rolling sum needs a minute with errors)."""
    value = _signal(rule.signal)
    if rule.op == "in":
        codes = _codes(rule)
        return value.isin(*[exp.Literal.number(c) for c in codes]) if codes else exp.false()
    if rule.op == "any_bit":  # any bit of any SKU's mask
        mask = reduce(lambda a, b: a | b, (int(v) for v in rule.thresholds.values()))
        return exp.BitwiseAnd(this=exp.cast(value, "BIGINT"), expression=exp.Literal.number(mask)).neq(0)
    if rule.signal in ROLLING:
        return value > 0
    return value >= exp.Literal.number(_lowest(rule))


def _could_trend(signal: str, trend, rule: HealthRule) -> exp.Expression:
    source = _trend_signal(signal)
    if source in ROLLING:
        return _signal(source) > 0
    return _signal(source) >= exp.Literal.number(_lowest(rule) - trend.band)


def _telemetry(signal: str, prefilter: exp.Expression | None) -> exp.Select:
    """The scanned minutes with one signal as `value`, optionally filtered on it, rolled up where the signal is a
    trailing sum."""
    base, minutes = ROLLING.get(signal, (signal, 0))
    query = exp.select(*KEYS, "minute_at", exp.column(base).as_("value")).from_(SCANNED)
    if prefilter is not None:
        query = query.where(prefilter.transform(lambda n: exp.column(base) if n == exp.column("value") else n))
    if not minutes:
        return query
    frame = _trailing(minutes)
    rolled = sqlglot.parse_one(f"sum(value) over ({frame})", read="duckdb")
    sparse = query.where(exp.column(base) > 0)
    return exp.select(*KEYS, "minute_at", rolled.as_("value")).from_(sparse.subquery("s"))


def _trailing(minutes: int) -> str:
    """A window over a GPU's last `minutes` minutes up to and including the current one (causal)."""
    preceding = f"interval {int(minutes) - 1} minute preceding"
    return f"partition by gpu_id order by minute_at range between {preceding} and current row"


def _by_sku(rule: HealthRule, skus: list[str]) -> exp.Expression:
    """CASE sku WHEN ... THEN threshold ... ELSE default END."""
    case = exp.Case(this=exp.column("sku"))
    for sku in skus:
        case = case.when(exp.Literal.string(sku), exp.Literal.number(rule.threshold(sku)))
    return case.else_(exp.Literal.number(rule.threshold("__default__")) if "default" in rule.thresholds else exp.null())


def rule_query(rule: HealthRule, skus: list[str]) -> exp.Select:
    """GPU minutes where the rule's condition held: keys, minute_at, value and the SKU's threshold."""
    value = exp.column("value")
    if rule.op == "in":
        condition = value.isin(*[exp.Literal.number(c) for c in _codes(rule)])
        inner = _telemetry(rule.signal, condition)
        return exp.select(*KEYS, "minute_at", "value", exp.null().as_("threshold")).from_(inner.subquery("t"))
    inner = _telemetry(rule.signal, value > 0 if rule.op == "any_bit" or "ecc" in rule.signal else None)
    threshold = _by_sku(rule, skus)
    held = (
        exp.BitwiseAnd(this=exp.cast(value, "BIGINT"), expression=exp.cast(exp.column("threshold"), "BIGINT")).neq(0)
        if rule.op == "any_bit"
        else value >= exp.column("threshold")
    )
    with_threshold = exp.select("*", threshold.as_("threshold")).from_(inner.subquery("t"))
    return exp.select(*KEYS, "minute_at", "value", "threshold").from_(with_threshold.subquery("h")).where(held)


def trend_query(signal: str, trend, rule: HealthRule, skus: list[str]) -> exp.Select:
    """Minutes where the trailing slope says the rule's line will be crossed within the horizon, while it is not
    yet crossed: value = minutes to the line (a warning before the threshold)."""
    source = _trend_signal(signal)
    threshold = _by_sku(rule, skus)
    frame = _trailing(trend.window_min)
    inner = exp.select("*", threshold.as_("threshold")).from_(_telemetry(source, exp.column("value") > 0).subquery("t"))
    inner = inner.where(exp.column("value") >= exp.column("threshold") - exp.Literal.number(trend.band))
    slope = sqlglot.parse_one(f"regr_slope(value, epoch(minute_at) / 60.0) over ({frame})", read="duckdb")
    fitted = exp.select("*", slope.as_("slope")).from_(inner.subquery("w"))
    eta = "(threshold - value) / slope"
    return (
        exp.select(*KEYS, "minute_at", sqlglot.parse_one(eta).as_("value"), "threshold")
        .from_(fitted.subquery("f"))
        .where(f"slope >= {trend.min_slope_per_min} and value < threshold and {eta} <= {trend.horizon_min}")
    )


def health_episodes(
    con: duckdb.DuckDBPyConnection, config: HealthConfig, window: tuple[datetime, datetime]
) -> pl.DataFrame:
    """Episodes of every health rule and trend per GPU, with the rule's name, from one query over one scan."""
    skus = fetch(con, "select distinct sku from marts.dim_gpus order by sku")["sku"].to_list()
    queries = {name: rule_query(rule, skus) for name, rule in config.rules.items()}
    queries |= {
        f"{signal}_trend": trend_query(signal, trend, config.rules[trend.rule], skus)
        for signal, trend in config.trends.items()
    }
    parts = [
        exp.select(exp.Literal.string(name).as_("rule"), "*").from_(q.subquery("r")) for name, q in queries.items()
    ]
    candidates = [_could_hold(rule) for rule in config.rules.values()]
    candidates += [_could_trend(s, t, config.rules[t.rule]) for s, t in config.trends.items()]
    union = reduce(lambda a, b: exp.union(a, b, distinct=False, copy=False), parts)
    query = union.with_(SCANNED, as_=_scan(candidates), materialized=True, copy=False)
    sql = query.sql("duckdb").replace("$start", "$1").replace("$end", "$2")
    hits = fetch(con, sql, list(window)).with_columns(
        pl.col("value").cast(pl.Float64), pl.col("threshold").cast(pl.Float64)
    )
    frames = []
    for name, rule in config.rules.items():
        gap = ROLLING.get(rule.signal, (None, 1))[1]  # a rolling sum holds between its sparse rows
        frames.append(_episodes_of(hits, name, rule.persistence_min, window[1], gap, config.arrival_delay_min))
    for signal, trend in config.trends.items():
        name = f"{signal}_trend"
        frames.append(_episodes_of(hits, name, trend.persistence_min, window[1], 1, config.arrival_delay_min))
    return pl.concat(frames, how="diagonal_relaxed")


def _episodes_of(hits: pl.DataFrame, name: str, persistence_min: int, end: datetime, gap: int, delay_min: int):
    mine = hits.filter(pl.col("rule") == name).drop("rule")
    found = episodes(mine, KEYS, persistence_min, end, gap, delay_min)
    return found.with_columns(pl.lit(name).alias("rule"))
