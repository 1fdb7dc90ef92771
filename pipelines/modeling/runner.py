"""Running a model into DuckDB: a full rebuild, or an incremental window that replaces only its time range.

Incremental models filter their output time with the parameters `$window_start` and `$window_end`; a full build binds
them to the widest range, a tick or a backfill to the range it recomputes (delete the range, insert it again).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache

import duckdb
import sqlglot
from sqlglot import exp

from pipelines.contracts import SOURCES
from pipelines.modeling.project import RETIRED_MODELS, Model
from pipelines.modeling.restatement import LOST_ATTEMPTS_SQL, LOST_KEY, MAX_RESTATEMENT
from pipelines.warehouse.connection import newest_load, schema_columns, table_columns, table_exists
from pipelines.warehouse.parts import part_key_sql

FULL_WINDOW = (datetime(1970, 1, 1), datetime(9999, 12, 31))
ALIGN = {"5min": timedelta(minutes=5), "hour": timedelta(hours=1), "day": timedelta(days=1)}


def aligned(window: tuple[datetime, datetime], align: str | None) -> tuple[datetime, datetime]:
    """Widen a window to whole buckets, so a rollup re-aggregates every bucket the window touches."""
    if align is None:
        return window
    step = ALIGN[align]
    start, end = _floor(window[0], step), _floor(window[1], step)
    return start, end if end == window[1] else end + step


def run_model(
    con: duckdb.DuckDBPyConnection,
    model: Model,
    window: tuple[datetime, datetime] | None = None,
    count_views: bool = True,
    lost_from: datetime | None = None,
) -> int | None:
    """Materialise the model; with a window, an incremental model recomputes only that range. With `lost_from`
    (before the window: see `restatement_window`), the work of the jobs that failed in the window is restated back
    to it: only their rows in a model that holds lost work, every row in the models that read one. Returns rows
    written (for a view, the rows it shows: counting runs its query, which a tick skips)."""
    con.execute(f"create schema if not exists {model.layer}")
    lost = (lost_from, window[0]) if window is not None and lost_from is not None and lost_from < window[0] else None
    if lost and model.reads_lost_work and not model.lost_work:
        window = (lost_from, window[1])
    if window is not None and model.incremental:
        window = aligned(window, model.incremental.get("align"))
    params = dict(zip(("window_start", "window_end"), window or FULL_WINDOW, strict=True))
    params = {k: v for k, v in params.items() if k in model.params}
    target = exp.to_table(model.table).sql("duckdb")
    kind = relation_kind(con, model.layer, model.name)
    if model.materialized == "view":
        if kind == "BASE TABLE":  # built as a table before
            con.execute(f"drop table {target}")
        con.execute(f"create or replace view {target} as {model.sql}")
        if not count_views:
            return None
        return con.execute(f"select count(*) from {target}").fetchall()[0][0]
    if kind == "VIEW":
        con.execute(f"drop view {target}")
    if model.incremental and "unique_key" in model.incremental:
        return _run_by_key(con, model, target, kind, window)
    if window is not None and model.incremental and kind is not None:
        written = _replace_window(con, model, target, window, params)
        if written is not None and lost and model.lost_work:
            restated = _restate_lost_work(con, model, target, lost)
            written = None if restated is None else written + restated
        if written is not None:
            return written
    windows = [FULL_WINDOW]
    if model.incremental and {"window_start", "window_end"} <= model.params:
        grain = ALIGN.get(model.incremental.get("align"), timedelta(0))  # a window holds whole buckets
        windows = chunk_windows(_chunks_with_data(con, model, max(FULL_BUILD_CHUNK, grain)))
        windows = windows if len(windows) >= MIN_WINDOWS else [FULL_WINDOW]  # a few days fit in memory at once
    for index, (start, end) in enumerate(windows):
        bound = {k: v for k, v in {"window_start": start, "window_end": end}.items() if k in model.params}
        verb = f"create or replace table {target} as" if index == 0 else f"insert into {target}"
        con.execute(f"{verb} {model.sql}", bound or None)
    return con.execute(f"select count(*) from {target}").fetchall()[0][0]


def relation_kind(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> str | None:
    """'BASE TABLE', 'VIEW', or None when the warehouse has no such relation."""
    return con.execute(
        "select any_value(table_type) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchall()[0][0]


def drop_retired(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Drop the tables and views of retired models (see `RETIRED_MODELS`) that this warehouse still holds."""
    dropped = []
    for name in RETIRED_MODELS:
        schema, table = name.split(".")
        kind = relation_kind(con, schema, table)
        if kind is not None:
            con.execute(f"drop {'view' if kind == 'VIEW' else 'table'} {exp.table_(table, db=schema).sql('duckdb')}")
            dropped.append(name)
    return dropped


# A full build of a time-incremental model runs as consecutive windows, each one a tick could have run (so the rows
# are the same): memory then follows a day of data, not the whole history (the GPU-minute fact of a default week
# peaks at 1.9 GB this way against 5 GB in one statement, in the same time).
FULL_BUILD_CHUNK = timedelta(days=1)
MIN_WINDOWS = 4


# A span of more chunks than this is looked at closely: real exports can hold a few days spread over years (the
# Slurm accounting fixture spans 2015 to 2016), and a statement per empty day would cost minutes for nothing.
DENSE_CHUNKS = 92


def chunk_windows(starts: list[datetime]) -> list[tuple[datetime, datetime]]:
    """Windows cut at the chunk starts after the first, the first open to the past and the last to the future."""
    bounds = [FULL_WINDOW[0], *starts[1:], FULL_WINDOW[1]]
    return list(zip(bounds, bounds[1:], strict=False))


def _chunks_with_data(con, model: Model, chunk: timedelta) -> list[datetime]:
    """The starts of the chunks (aligned to the epoch) that hold rows of the model's raw sources: every chunk of a
    dense span, only the occupied ones of a sparse span. Rows a window derives beyond its sources' own times (the
    minutes of a long job) are still computed: an empty chunk falls into the window of the occupied chunk before it."""
    sources = _timed_sources(con, model)
    span = _source_span(con, sources)
    if span is None:
        return []
    first, last = _floor(span[0], chunk), span[1]
    count = -(-(last - first) // chunk)
    if count <= DENSE_CHUNKS:
        return [first + chunk * i for i in range(count)]
    starts: set[datetime] = set()
    for source, column in sources:
        bucket = exp.func(
            "time_bucket",
            exp.cast(exp.Literal.string(f"{int(chunk.total_seconds())} seconds"), "interval"),
            exp.cast(exp.column(column), "timestamp"),
            exp.cast(exp.Literal.string("1970-01-01"), "timestamp"),
        )
        query = (
            exp.select(bucket).distinct().from_(exp.to_table(source)).where(exp.column(column).is_(exp.null()).not_())
        )
        starts.update(row[0] for row in con.execute(query.sql("duckdb")).fetchall())
    return sorted(starts)


def _floor(moment: datetime, step: timedelta) -> datetime:
    """The start of the step (counted from the epoch) that holds the moment."""
    epoch = datetime(1970, 1, 1)
    return epoch + ((moment - epoch) // step) * step


def _timed_sources(con, model: Model) -> list[tuple[str, str]]:
    """The model's raw sources present in this warehouse that have a contract time column, with that column."""
    found = []
    for source in sorted(model.sources):
        schema, name = source.split(".")
        contract = SOURCES.get(name)
        if contract is None or contract.time_column is None or not table_exists(con, schema, name):
            continue  # a warehouse built without this source (a hand-made one, or only some exporters)
        found.append((source, contract.time_column))
    return found


def _source_span(con, sources: list[tuple[str, str]]) -> tuple[datetime, datetime] | None:
    """The earliest and latest time in the given raw sources (each by its contract time column)."""
    ends = []
    for source, column in sources:
        query = exp.select(exp.Min(this=exp.column(column)), exp.Max(this=exp.column(column))).from_(
            exp.to_table(source)
        )
        ends += [moment for moment in con.execute(query.sql("duckdb")).fetchall()[0] if moment is not None]
    ends = [m if isinstance(m, datetime) else datetime.combine(m, datetime.min.time()) for m in ends]
    return (min(ends), max(ends) + timedelta(microseconds=1)) if ends else None


WATERMARKS = "control.model_watermarks"


def _run_by_key(con, model: Model, target: str, kind: str | None, window) -> int:
    """A model whose rows each belong to one key (a job): a tick recomputes only the keys whose raw rows arrived
    since the model last ran (late scheduler events included, which no time window catches). A change it cannot
    trace to keys (new rows in a source without the key, a landing file replaced in place) rebuilds it whole. Such a
    model must compute a key's rows from that key's rows alone (no aggregate across keys, such as the newest event
    of all jobs): a tick reads only the changed keys' rows (see `_narrowed`)."""
    key = model.incremental["unique_key"]
    con.execute("create schema if not exists control")
    con.execute(f"create table if not exists {WATERMARKS} (model varchar primary key, loaded_through timestamp)")
    marked = con.execute(f"select loaded_through from {WATERMARKS} where model = ?", [model.table]).fetchall()
    through = _loaded_through(con, model, marked[0][0] if marked else None)
    keys = None
    if window is not None and kind == "BASE TABLE" and marked and marked[0][0] is not None:
        keys = _changed_keys(con, model, key, marked[0][0])
    written = None if keys is None else _replace_keys(con, model, target, key, keys)
    if written is None:
        con.execute(f"create or replace table {target} as {model.sql}")
        written = con.execute(f"select count(*) from {target}").fetchall()[0][0]
        mark_touched(con, model.table, None)
    con.execute(f"insert or replace into {WATERMARKS} values (?, ?)", [model.table, through])
    return written


def _loaded_through(con, model: Model, marked: datetime | None) -> datetime | None:
    """When the newest raw row this run sees was loaded (looked for after the model's last watermark)."""
    newest = [
        newest_load(con, source, marked)
        for source in sorted(model.sources)
        if table_exists(con, *source.split("."))  # a model built over staging tables alone has no load stamps
    ]
    return max((n for n in newest if n is not None), default=None)


def _changed_keys(con, model: Model, key: str, since: datetime) -> exp.Query | None:
    """A query of the keys with raw rows loaded after `since` (each load stamps its rows with its own start time, and
    a later tick's load starts later), or None when the change cannot be traced to keys."""
    if table_exists(con, "raw", "_replaced"):
        replaced = con.execute(
            "select count(*) from raw._replaced where replaced_at > ? and 'raw.' || source in (select unnest(?))",
            [since, sorted(model.sources)],
        ).fetchall()[0][0]
        if replaced:
            return None
    queries = []
    for source in sorted(model.sources):
        schema, name = source.split(".")
        columns = table_columns(con, schema, name)
        arrived = exp.column("_loaded_at") > exp.cast(exp.Literal.string(since.isoformat()), "timestamp")
        if key in columns:
            queries.append(exp.select(exp.column(key)).from_(exp.to_table(source)).where(arrived))
            continue
        unkeyed = exp.select("count(*)").from_(exp.to_table(source)).where(arrived).sql("duckdb")
        if con.execute(unkeyed).fetchall()[0][0]:
            return None
    if not queries:
        return exp.select(exp.column(key)).from_(exp.to_table(sorted(model.sources)[0])).where("false")
    union = queries[0]
    for query in queries[1:]:
        union = exp.union(union, query, distinct=True)
    return union


def _replace_keys(con, model: Model, target: str, key: str, keys: exp.Query) -> int | None:
    """Delete the changed keys' rows and insert them again, marking the parts they left and entered (see
    `mark_touched`); None when the table no longer has the model's columns."""
    column = exp.to_identifier(key, quoted=True).sql("duckdb")
    con.execute(f"create or replace temp table _changed_keys as {keys.sql('duckdb')}")
    changed = f"{column} in (select {column} from _changed_keys)"
    parts_by = model.incremental.get("parts_by")
    touched, after = None, None
    if parts_by:  # the parts of the rows about to be replaced, then of their replacements
        part = part_key_sql(exp.to_identifier(parts_by, quoted=True).sql("duckdb"))
        touched = f"select distinct {part} from {target} where {changed}"
        con.execute(f"create or replace temp table _touched_parts as {touched}")

        def after() -> None:
            mark_touched(con, model.table, f"{touched} union all select * from _touched_parts")

    written = _delete_and_insert(
        con,
        (f"delete from {target} where {changed}", None),
        (f"insert into {target} {_narrowed(con, model, [key], '_changed_keys')}", None),
        after,
    )
    con.execute("drop table _changed_keys")
    if touched is not None:
        con.execute("drop table _touched_parts")
    return written


TOUCHED_PARTS = "control.touched_parts"


def mark_touched(con, table: str, parts_query: str | None) -> None:
    """Record the publication parts a write changed (all of them: None), so that publishing rewrites only those:
    a keyed model's rows move between parts only where its keys changed, which no time range tells."""
    con.execute("create schema if not exists control")
    con.execute(f"create table if not exists {TOUCHED_PARTS} (model varchar, part varchar)")
    if parts_query is None:
        con.execute(f"insert into {TOUCHED_PARTS} values (?, '*')", [table])
    else:
        con.execute(f"insert into {TOUCHED_PARTS} select distinct ?, part from ({parts_query}) as t(part)", [table])


def _delete_and_insert(con, delete: tuple[str, dict | None], insert: tuple[str, dict | None], after=None) -> int | None:
    """Replace rows in one transaction (with `after`, any bookkeeping that must commit with them); the rows
    inserted, or None (rolled back) when the table no longer has the model's columns (the SQL gained or lost one
    since the table was built), which calls for a full rebuild."""
    con.execute("begin transaction")
    try:
        con.execute(*delete)
        written = con.execute(*insert).fetchall()[0][0]
        if after is not None:
            after()
    except (duckdb.BinderException, duckdb.ConversionException):
        con.execute("rollback")
        return None
    con.execute("commit")
    return written


def _narrowed(con, model: Model, columns: list[str], values: str) -> str:
    """The model's SQL with every relation that has one of the columns cut to the values the temp table `values`
    holds in them. A keyed model computes a key's rows from that key's rows (and from relations without the key),
    so this gives the same rows; DuckDB does not push a key filter on the result down through the model's CTEs and
    joins (a tick's hundred jobs took 0.3 s over every job's events, 0.03 s narrowed)."""
    tree = _parsed(model.sql)
    found = {(t.db, t.name) for t in tree.find_all(exp.Table) if t.db}
    catalog = {schema: schema_columns(con, schema) for schema, _ in found}  # a look per schema, not per relation

    def narrow(node: exp.Expression) -> exp.Expression:
        if not (isinstance(node, exp.Table) and node.db):
            return node
        present = [c for c in columns if c in catalog.get(node.db, {}).get(node.name, set())]
        if not present:
            return node
        only = exp.select("*").from_(exp.table_(node.name, db=node.db))
        for column in present:
            only = only.where(exp.column(column).isin(query=exp.select(exp.column(column)).from_(values)))
        return only.subquery(node.alias_or_name)

    return tree.transform(narrow).sql("duckdb")


@cache
def _parsed(sql: str) -> exp.Expression:
    """A model's parsed SQL (each tick narrows the same few models; `transform` copies it)."""
    return sqlglot.parse_one(sql, read="duckdb")


def _restate_lost_work(con, model: Model, target: str, span: tuple[datetime, datetime]) -> int | None:
    """Replace, in the span before a tick's window, the rows of the jobs whose attempts failed in the window (their
    work since the last checkpoint is lost): a failure changes only its own job's rows there, and recomputing six
    hours of the whole fleet for a handful of jobs took most of a tick. The inputs are cut to the values the
    replaced rows hold in the `narrow` columns, and only the failed jobs' rows are kept of what that computes (what
    it says of other rows, from cut inputs, is wrong and dropped). None when the table lacks the model's columns."""
    time_column = exp.to_identifier(model.incremental["time_column"], quoted=True).sql("duckdb")
    narrow = model.lost_work["narrow"]
    listed = ", ".join(exp.to_identifier(c, quoted=True).sql("duckdb") for c in narrow)
    bounds = {"span_start": span[0], "window_start": span[1]}
    in_span = f"{time_column} >= $span_start and {time_column} < $window_start"
    key = exp.to_identifier(LOST_KEY, quoted=True).sql("duckdb")
    failed_jobs = f"{key} in (select {key} from ({LOST_ATTEMPTS_SQL}))"
    con.execute(f"create or replace temp table _lost_rows as select distinct {listed} from {target} "
                f"where {in_span} and {failed_jobs}", {**bounds, "reach_start": span[1] - MAX_RESTATEMENT})  # fmt: skip
    if not con.execute("select count(*) from _lost_rows").fetchall()[0][0]:
        return 0
    written = _delete_and_insert(
        con,
        (f"delete from {target} where {in_span} and {key} in (select {key} from _lost_rows)", bounds),
        (
            f"insert into {target} select * from ({_narrowed(con, model, narrow, '_lost_rows')}) "
            f"where {key} in (select {key} from _lost_rows)",
            {k: v for k, v in {"window_start": span[0], "window_end": span[1]}.items() if k in model.params},
        ),
    )
    con.execute("drop table _lost_rows")
    return written


def _replace_window(con, model: Model, target: str, window, params: dict) -> int | None:
    """Delete the window's rows and insert them again; None when the table no longer has the model's columns (the
    SQL gained or lost one since the table was built), which calls for a full rebuild."""
    time_column = exp.to_identifier(model.incremental["time_column"], quoted=True).sql("duckdb")
    in_window = f"{time_column} >= $window_start and {time_column} < $window_end"
    bounds = {"window_start": window[0], "window_end": window[1]}
    if not model.moves:
        return _delete_and_insert(
            con,
            (f"delete from {target} where {in_window}", bounds),
            (f"insert into {target} {model.sql}", params or None),
        )
    con.execute(f"create or replace temp table _window_rows as {model.sql}", params or None)
    same_key = " and ".join(f"w.{c} = {target}.{c}" for c in (_ident(k) for k in model.moves["key"]))
    moved = f"exists (select 1 from _window_rows as w where {same_key})"
    written = _delete_and_insert(
        con,
        (f"delete from {target} where ({in_window}) or {moved}", bounds),
        (f"insert into {target} select * from _window_rows", None),
    )
    con.execute("drop table _window_rows")
    return written


def _ident(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql("duckdb")
