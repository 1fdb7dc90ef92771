"""GPU health rules and the time-to-critical trend: per-GPU minutes where a rule's condition held, with the SKU's
threshold from the YAML, turned into episodes. Queries are sqlglot expressions; thresholds enter as literals
validated by the config, never as text."""

from __future__ import annotations

from datetime import datetime

import duckdb
import polars as pl
import sqlglot
from sqlglot import exp

from pipelines.detect.config import HealthConfig, HealthRule
from pipelines.detect.episodes import episodes
from pipelines.detect.warehouse import fetch

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


def _telemetry(signal: str, prefilter: exp.Expression | None) -> exp.Select:
    """GPU minutes with the signal, outside planned maintenance, in the window ($start, $end)."""
    base, minutes = ROLLING.get(signal, (signal, 0))
    value = sqlglot.parse_one(SIGNALS[base], read="duckdb")
    query = (
        exp.select("g.gpu_id", "g.node_id", "d.region", "d.sku", "g.minute_at", value.as_("value"))
        .from_("staging.stg_gpu_telemetry__minutes as g")
        .join("marts.dim_gpus as d", on="d.gpu_id = g.gpu_id")
        .join(
            "intermediate.int_nodes__maintenance_minutes as m",
            on="m.node_id = g.node_id and m.minute_at = g.minute_at",
            join_type="anti",
        )
        .where("g.minute_at >= $start and g.minute_at < $end")
    )
    if prefilter is not None:
        query = query.where(prefilter.transform(lambda n: value.copy() if n == exp.column("value") else n))
    if not minutes:
        return query
    frame = _trailing(minutes)
    rolled = sqlglot.parse_one(f"sum(value) over ({frame})", read="duckdb")
    sparse = query.where(value.copy() > 0)
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


def rule_hits(
    con: duckdb.DuckDBPyConnection, rule: HealthRule, skus: list[str], window: tuple[datetime, datetime]
) -> pl.DataFrame:
    """GPU minutes where the rule's condition held: keys, minute_at, value and the SKU's threshold."""
    value = exp.column("value")
    if rule.op == "in":
        codes = rule.threshold("__default__") if "default" in rule.thresholds else []
        condition = value.isin(*[exp.Literal.number(c) for c in codes])
        inner = _telemetry(rule.signal, condition)
        query = exp.select(*KEYS, "minute_at", "value", exp.null().as_("threshold")).from_(inner.subquery("t"))
    else:
        inner = _telemetry(rule.signal, value > 0 if rule.op == "any_bit" or "ecc" in rule.signal else None)
        threshold = _by_sku(rule, skus)
        held = (
            exp.BitwiseAnd(this=exp.cast(value, "BIGINT"), expression=exp.cast(exp.column("threshold"), "BIGINT")).neq(
                0
            )
            if rule.op == "any_bit"
            else value >= exp.column("threshold")
        )
        with_threshold = exp.select("*", threshold.as_("threshold")).from_(inner.subquery("t"))
        query = exp.select(*KEYS, "minute_at", "value", "threshold").from_(with_threshold.subquery("h")).where(held)
    sql = query.sql("duckdb")
    frame = fetch(con, sql.replace("$start", "$1").replace("$end", "$2"), list(window))
    return frame.with_columns(pl.col("value").cast(pl.Float64), pl.col("threshold").cast(pl.Float64))


def health_episodes(
    con: duckdb.DuckDBPyConnection, config: HealthConfig, window: tuple[datetime, datetime]
) -> pl.DataFrame:
    """Episodes of every health rule per GPU, with the rule's name."""
    skus = fetch(con, "select distinct sku from marts.dim_gpus order by sku")["sku"].to_list()
    frames = []
    for name, rule in config.rules.items():
        hits = rule_hits(con, rule, skus, window)
        gap = ROLLING.get(rule.signal, (None, 1))[1]  # a rolling sum holds between its sparse rows
        found = episodes(hits, KEYS, rule.persistence_min, window[1], gap, config.arrival_delay_min)
        frames.append(found.with_columns(pl.lit(name).alias("rule")))
    for signal, trend in config.trends.items():
        found = trend_episodes(con, signal, trend, config.rules[trend.rule], skus, window, config.arrival_delay_min)
        frames.append(found.with_columns(pl.lit(f"{signal}_trend").alias("rule")))
    return pl.concat(frames, how="diagonal_relaxed")


def trend_episodes(con, signal, trend, rule: HealthRule, skus, window, delay_min) -> pl.DataFrame:
    """Minutes where the trailing slope says the rule's line will be crossed within the horizon, while it is not
    yet crossed: value = minutes to the line (a warning before the threshold)."""
    source = "ecc_corrected_5min" if signal == "ecc_corrected_count" else signal
    threshold = _by_sku(rule, skus)
    frame = _trailing(trend.window_min)
    inner = exp.select("*", threshold.as_("threshold")).from_(_telemetry(source, exp.column("value") > 0).subquery("t"))
    inner = inner.where(exp.column("value") >= exp.column("threshold") - exp.Literal.number(trend.band))
    slope = sqlglot.parse_one(f"regr_slope(value, epoch(minute_at) / 60.0) over ({frame})", read="duckdb")
    fitted = exp.select("*", slope.as_("slope")).from_(inner.subquery("w"))
    eta = "(threshold - value) / slope"
    query = (
        exp.select(*KEYS, "minute_at", sqlglot.parse_one(eta).as_("value"), "threshold")
        .from_(fitted.subquery("f"))
        .where(f"slope >= {trend.min_slope_per_min} and value < threshold and {eta} <= {trend.horizon_min}")
    )
    sql = query.sql("duckdb").replace("$start", "$1").replace("$end", "$2")
    hits = fetch(con, sql, list(window)).with_columns(pl.col("value").cast(pl.Float64))
    return episodes(hits, KEYS, trend.persistence_min, window[1], delay_min=delay_min)
