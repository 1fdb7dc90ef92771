"""The contract as queries: type every column and name the first rule each landed row breaks (null if none).

Built with sqlglot expressions from the contract, so column names are quoted identifiers, never pasted text.
"""

from __future__ import annotations

import functools

import sqlglot
from sqlglot import exp

from pipelines.contracts.schema import Source

FUTURE_TOLERANCE_MIN = 10  # clocks drift; a timestamp further ahead than this is impossible
RAW_PREFIX = "_raw_"


def col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(exp.to_identifier(name, quoted=True), table=exp.to_identifier(table) if table else None)


def retyped(source: Source, landed_types: dict[str, str]) -> set[str]:
    """Contract columns the file holds with another type: only these can fail a cast."""
    return {
        c.name
        for c in source.columns
        if c.name in landed_types and _normal_type(landed_types[c.name]) != _normal_type(c.dtype)
    }


@functools.cache  # a contract names a dozen types across hundreds of columns; parsing each took a tick 0.08 s
def _normal_type(name: str) -> str:
    try:
        return exp.DataType.build(name, dialect="duckdb").sql("duckdb")
    except (sqlglot.errors.ParseError, ValueError):
        return name.upper()


@functools.cache
def _data_type(name: str) -> exp.DataType:
    """Parsed once per type name; callers copy it, as sqlglot nodes belong to one tree."""
    return exp.DataType.build(name)


def typed_batch_sql(source: Source, landed_types: dict[str, str], batch: str) -> str:
    """The batch cast to the contract's types; columns that needed a cast keep their landed value beside."""
    selects = []
    for column in source.columns:
        dtype = _data_type(column.dtype).copy()
        value = (
            exp.TryCast(this=col(column.name), to=dtype) if column.name in landed_types else exp.cast(exp.null(), dtype)
        )
        selects.append(exp.alias_(value, column.name, quoted=True))
    for name in sorted(retyped(source, landed_types)):
        selects.append(exp.alias_(exp.cast(col(name), "VARCHAR"), RAW_PREFIX + name, quoted=True))
    selects.append(col("_row"))
    return sqlglot.select(*selects).from_(exp.to_table(batch)).sql("duckdb")


def reason_sql(source: Source, landed_types: dict[str, str], typed: str, target: str, refs: dict[str, str]) -> str:
    """`_row` and `_reason` of every typed row: the first contract rule it breaks, in a fixed order, or null."""
    rules = _column_rules(source, landed_types) + _row_rules(source, target, refs, typed)
    case = exp.Case(ifs=[exp.If(this=cond, true=exp.Literal.string(why)) for cond, why in rules])
    return (
        sqlglot.select(exp.Star(), exp.alias_(case, "_reason", quoted=True))
        .from_(exp.alias_(exp.to_table(typed), "t"))
        .sql("duckdb")
    )


def _column_rules(source: Source, landed_types: dict[str, str]) -> list[tuple[exp.Expression, str]]:
    missing = [c.name for c in source.columns if not c.nullable and c.name not in landed_types]
    rules: list[tuple[exp.Expression, str]] = []
    if missing:
        rules.append((exp.true(), f"missing column: {', '.join(missing)}"))
    for name in sorted(retyped(source, landed_types)):
        landed = col(RAW_PREFIX + name, "t")
        failed = exp.and_(landed.is_(exp.null()).not_(), col(name, "t").is_(exp.null()))
        rules.append((failed, f"bad type: {name} is not {source.column(name).dtype.lower()}"))
    for c in source.columns:
        value = col(c.name, "t")
        if not c.nullable:
            rules.append((value.is_(exp.null()), f"null: {c.name} is required"))
        if c.min is not None:
            rules.append((value < exp.Literal.number(c.min), f"out of range: {c.name} below {c.min:g}"))
        if c.max is not None:
            rules.append((value > exp.Literal.number(c.max), f"out of range: {c.name} above {c.max:g}"))
        if c.allowed:
            allowed = [exp.Literal.string(v) for v in c.allowed]
            rules.append((exp.not_(value.isin(*allowed)), f"not allowed: {c.name} not one of {', '.join(c.allowed)}"))
    return rules


def _row_rules(source: Source, target: str, refs: dict[str, str], typed: str) -> list[tuple[exp.Expression, str]]:
    rules: list[tuple[exp.Expression, str]] = []
    if source.time_column:
        limit = exp.Add(
            this=exp.Placeholder(this="now"),
            expression=exp.Interval(this=exp.Literal.string(str(FUTURE_TOLERANCE_MIN)), unit=exp.var("MINUTE")),
        )
        rules.append((col(source.time_column, "t") > limit, f"future: {source.time_column} is after the load time"))
    for ref in source.references:
        lookup = sqlglot.select(exp.Literal.number(1)).from_(exp.alias_(exp.to_table(refs[ref.source]), "r"))
        lookup = lookup.where(col(ref.source_column, "r").eq(col(ref.column, "t")))
        rules.append((exp.not_(exp.Exists(this=lookup)), f"unknown {ref.column}: not in {ref.source}"))
    first_in_file = exp.Window(
        this=exp.RowNumber(),
        partition_by=[col(k, "t") for k in source.key],
        order=exp.Order(expressions=[exp.Ordered(this=col("_row", "t"))]),
    )
    rules.append((first_in_file > exp.Literal.number(1), "duplicate key: repeated in the file"))
    key_match = exp.and_(*[col(k, "x").eq(col(k, "t")) for k in source.key])
    for key in source.key:
        # only loaded rows within the batch's range of every key column can repeat its keys: the bounds let DuckDB
        # skip the rest of a big table by its row groups' min/max instead of scanning it for every file of a tick
        # (a key without the time column, such as a scheduler event's job, attempt and type, read every event)
        span = [sqlglot.select(agg(this=col(key))).from_(exp.to_table(typed)).subquery() for agg in (exp.Min, exp.Max)]
        key_match = exp.and_(key_match, exp.Between(this=col(key, "x"), low=span[0], high=span[1]))
    earlier = sqlglot.select(exp.Literal.number(1)).from_(exp.alias_(exp.to_table(target), "x")).where(key_match)
    rules.append((exp.Exists(this=earlier), "duplicate key: already loaded"))
    return rules
