"""Metric queries to SQL, built as sqlglot expressions: user input only ever becomes a bound parameter.

Ratios sum numerator and denominator at the grain, then divide. A grain reads the coarsest rollup that still divides
it (a week reads the daily mart), so a query touches as few rows as the answer needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import sqlglot
from sqlglot import exp

from pipelines.modeling.rollups import ROLLUP_TIME
from pipelines.semantic.catalog import GRAINS, Metric, MetricError

BUCKET = "bucket_at"
# which rollups can serve a grain, finest acceptable first: the coarsest available is used
SERVES = {
    "minute": [],
    "5min": ["5min"],
    "hour": ["5min", "hour"],
    "day": ["5min", "hour", "day"],
    "week": ["5min", "hour", "day"],
}
TRUNC_UNIT = {"minute": "minute", "hour": "hour", "day": "day", "week": "week"}


@dataclass
class MetricQuery:
    metrics: list[str]
    by: list[str] = field(default_factory=list)
    grain: str = "day"
    start: datetime | None = None
    end: datetime | None = None
    where: dict[str, str | list[str]] = field(default_factory=dict)  # a list: any of its values


@dataclass
class CompiledQuery:
    sql: str
    params: dict[str, object]
    metrics: list[str]
    by: list[str]


def _ident(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def _col(name: str) -> exp.Column:
    return exp.column(_ident(name))


def _bucket(grain: str, time_col: exp.Expression) -> exp.Expression:
    if grain == "5min":
        hour = exp.func("date_trunc", exp.Literal.string("hour"), time_col)
        step = exp.Mul(
            this=exp.Interval(this=exp.Literal.string("5"), unit=exp.var("MINUTE")),
            expression=exp.Paren(this=exp.IntDiv(this=exp.func("minute", time_col), expression=exp.Literal.number(5))),
        )
        return exp.Add(this=hour, expression=step)
    return exp.func("date_trunc", exp.Literal.string(TRUNC_UNIT[grain]), time_col)


def _aggregate(metric: Metric) -> exp.Expression:
    if metric.type == "simple":
        value = exp.Sum(this=_col(metric.measure))
    elif metric.type == "ratio":
        value = exp.Div(
            this=exp.Sum(this=_col(metric.numerator)),
            expression=exp.func("nullif", exp.Sum(this=_col(metric.denominator)), exp.Literal.number(0)),
        )
    else:
        value = exp.func("quantile_cont", _col(metric.measure), exp.Literal.number(metric.quantile))
    if metric.scale != 1.0:
        value = exp.Mul(this=exp.Paren(this=value), expression=exp.Literal.number(metric.scale))
    return value


def compile_query(query: MetricQuery, catalog: dict[str, Metric]) -> list[CompiledQuery]:
    """One SQL query per mart the metrics read; results join on the bucket and the dimensions."""
    unknown = [m for m in query.metrics if m not in catalog]
    if unknown or not query.metrics:
        raise MetricError(f"unknown metric {', '.join(unknown) or '(none given)'}; valid: {', '.join(sorted(catalog))}")
    if query.grain not in GRAINS:
        raise MetricError(f"unknown grain '{query.grain}'; valid: {', '.join(GRAINS)}")
    groups: dict[str, list[Metric]] = {}
    for name in query.metrics:
        metric = catalog[name]
        _check_fits(metric, query)
        groups.setdefault(metric.mart, []).append(metric)
    return [_compile_group(metrics, query) for metrics in groups.values()]


def _check_fits(metric: Metric, query: MetricQuery) -> None:
    for dim in [*query.by, *query.where]:
        if dim not in metric.dimensions:
            raise MetricError(f"metric '{metric.name}' has no dimension '{dim}'; valid: {', '.join(metric.dimensions)}")
    if query.grain not in metric.grains:
        raise MetricError(f"metric '{metric.name}' has no grain '{query.grain}'; valid: {', '.join(metric.grains)}")


def _compile_group(metrics: list[Metric], query: MetricQuery) -> CompiledQuery:
    first = metrics[0]
    usable = [g for g in SERVES[query.grain] if g in first.rollups and all(g in m.rollups for m in metrics)]
    quantiles = any(m.type == "quantile" for m in metrics)
    table, time_name = (
        (first.rollups[usable[-1]], ROLLUP_TIME) if usable and not quantiles else (first.mart, first.time_dimension)
    )
    time_col = _col(time_name)
    select = sqlglot.select(exp.alias_(_bucket(query.grain, time_col), BUCKET, quoted=True))
    for dim in query.by:
        select = select.select(_col(dim))
    for metric in metrics:
        select = select.select(exp.alias_(_aggregate(metric), metric.name, quoted=True))
    select = select.from_(exp.to_table(table))
    params: dict[str, object] = {}
    if query.start is not None:
        select = select.where(time_col >= exp.Placeholder(this="start"))
        params["start"] = query.start
    if query.end is not None:
        select = select.where(time_col < exp.Placeholder(this="end"))
        params["end"] = query.end
    for index, (dim, value) in enumerate(sorted(query.where.items())):
        values = [value] if isinstance(value, str) else list(value)
        names = [f"w{index}_{j}" for j in range(len(values))]
        select = select.where(_col(dim).isin(*(exp.Placeholder(this=name) for name in names)))
        params.update(zip(names, values, strict=True))
    # by position: a rollup has its own bucket_at column, which the output bucket must not be confused with
    keys = [exp.Literal.number(i + 1) for i in range(1 + len(query.by))]
    select = select.group_by(*keys).order_by(*keys)
    return CompiledQuery(select.sql("duckdb"), params, [m.name for m in metrics], list(query.by))
