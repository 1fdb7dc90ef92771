"""Running a model into DuckDB: a full rebuild, or an incremental window that replaces only its time range.

Incremental models filter their output time with the parameters `$window_start` and `$window_end`; a full build binds
them to the widest range, a tick or a backfill to the range it recomputes (delete the range, insert it again).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import sqlglot
from sqlglot import exp

from pipelines.catalog import table_columns, table_exists
from pipelines.contracts import SOURCES
from pipelines.modeling.project import Model

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
) -> int | None:
    """Materialise the model; with a window, an incremental model recomputes only that range. Returns rows written
    (for a view, the rows it shows: counting runs its query, which a tick skips)."""
    con.execute(f"create schema if not exists {model.layer}")
    if window is not None and model.incremental:
        window = aligned(window, model.incremental.get("align"))
    params = dict(zip(("window_start", "window_end"), window or FULL_WINDOW, strict=True))
    params = {k: v for k, v in params.items() if k in model.params}
    target = exp.to_table(model.table).sql("duckdb")
    kind = con.execute(
        "select any_value(table_type) from information_schema.tables where table_schema = ? and table_name = ?",
        [model.layer, model.name],
    ).fetchall()[0][0]
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
    through = _loaded_through(con, model)
    marked = con.execute(f"select loaded_through from {WATERMARKS} where model = ?", [model.table]).fetchall()
    keys = None
    if window is not None and kind == "BASE TABLE" and marked and marked[0][0] is not None:
        keys = _changed_keys(con, model, key, marked[0][0])
    written = None if keys is None else _replace_keys(con, model, target, key, keys)
    if written is None:
        con.execute(f"create or replace table {target} as {model.sql}")
        written = con.execute(f"select count(*) from {target}").fetchall()[0][0]
    con.execute(f"insert or replace into {WATERMARKS} values (?, ?)", [model.table, through])
    return written


def _loaded_through(con, model: Model) -> datetime | None:
    """When the newest raw row this run sees was loaded."""
    newest = [
        con.execute(f"select max(_loaded_at) from {exp.to_table(source).sql('duckdb')}").fetchall()[0][0]
        for source in sorted(model.sources)
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
    """Delete the changed keys' rows and insert them again; None when the table no longer has the model's columns."""
    column = exp.to_identifier(key, quoted=True).sql("duckdb")
    con.execute(f"create or replace temp table _changed_keys as {keys.sql('duckdb')}")
    con.execute("begin transaction")
    try:
        con.execute(f"delete from {target} where {column} in (select {column} from _changed_keys)")
        written = con.execute(f"insert into {target} {_narrowed(con, model, key)}").fetchall()[0][0]
    except (duckdb.BinderException, duckdb.ConversionException):
        con.execute("rollback")
        return None
    con.execute("commit")
    con.execute("drop table _changed_keys")
    return written


def _narrowed(con, model: Model, key: str) -> str:
    """The model's SQL with every relation that has the key column cut to the changed keys. A keyed model computes
    a key's rows from that key's rows (and from relations without the key), so this gives the same rows; DuckDB does
    not push a key filter on the result down through the model's CTEs and joins (a tick's hundred jobs took 0.3 s
    over every job's events, 0.03 s narrowed)."""
    changed = exp.select(exp.column(key)).from_("_changed_keys")

    def narrow(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Table) and node.db and key in table_columns(con, node.db, node.name):
            relation = exp.table_(node.name, db=node.db)
            only = exp.select("*").from_(relation).where(exp.column(key).isin(query=changed.copy()))
            return only.subquery(node.alias_or_name)
        return node

    return sqlglot.parse_one(model.sql, read="duckdb").transform(narrow).sql("duckdb")


def _replace_window(con, model: Model, target: str, window, params: dict) -> int | None:
    """Delete the window's rows and insert them again; None when the table no longer has the model's columns (the
    SQL gained or lost one since the table was built), which calls for a full rebuild."""
    time_column = exp.to_identifier(model.incremental["time_column"], quoted=True).sql("duckdb")
    con.execute("begin transaction")
    try:
        con.execute(
            f"delete from {target} where {time_column} >= $window_start and {time_column} < $window_end",
            {"window_start": window[0], "window_end": window[1]},
        )
        written = con.execute(f"insert into {target} {model.sql}", params or None).fetchall()[0][0]
    except (duckdb.BinderException, duckdb.ConversionException):
        con.execute("rollback")
        return None
    con.execute("commit")
    return written


RESTATE_SQL = """
with failed as (
    -- attempts that ended without completing from the window on: their work since the last checkpoint is lost
    select job_id, attempt, from raw.scheduler_events
    where event_type = 'ended' and event_at >= $window_start and state <> 'completed'
),
starts as (
    select job_id, attempt, min(event_at) as started_at from raw.scheduler_events
    where event_type = 'started' and event_at < $window_start group by all
),
restated as (
    -- only jobs that report steps can lose work after a checkpoint
    select s.job_id, s.attempt, s.started_at from starts as s
    join failed as f on f.job_id = s.job_id and f.attempt = s.attempt
    join raw.job_metadata as j on j.job_id = s.job_id
    where coalesce(j.reports_steps, true)
),
checkpoints as (
    select job_id, attempt, max(ts) as checkpoint_at from raw.job_runtime_metrics
    where checkpoint_s > 0 and ts < $window_start group by all
)
select min(coalesce(c.checkpoint_at, a.started_at))
from restated as a
left join checkpoints as c on c.job_id = a.job_id and c.attempt = a.attempt
"""
MAX_RESTATEMENT = timedelta(hours=6)  # work lost further back than this is not restated by a tick
LATE_SNAPSHOT_SQL = "select min(snapshot_date)::timestamp from raw.inventory where _loaded_at >= $loaded_since"
MAX_SNAPSHOT_RESTATEMENT = timedelta(days=2)  # a snapshot later than this does not restate the GPU-minutes it names


def restatement_window(
    con: duckdb.DuckDBPyConnection, window: tuple[datetime, datetime], loaded_since: datetime | None = None
) -> tuple[datetime, datetime]:
    """Widen a tick back to the last checkpoint of every attempt that was open at its start and has failed since:
    its work since that checkpoint is lost, and those earlier minutes must be restated. (An attempt still running
    is restated by the tick that sees it fail; widening for every open attempt recomputed six hours each tick.)
    With `loaded_since`, also back to the day of an inventory snapshot loaded since then: a snapshot that lands after
    the minutes of its day were computed changes which GPUs were paid for in them."""
    start = window[0]
    (earliest,) = con.execute(RESTATE_SQL, {"window_start": window[0]}).fetchall()[0]
    if earliest is not None:
        start = max(min(start, date_floor_minute(earliest)), window[0] - MAX_RESTATEMENT)
    if loaded_since is not None and table_exists(con, "raw", "inventory"):
        (snapshot,) = con.execute(LATE_SNAPSHOT_SQL, {"loaded_since": loaded_since}).fetchall()[0]
        if snapshot is not None:
            start = min(start, max(snapshot, window[0] - MAX_SNAPSHOT_RESTATEMENT))
    return start, window[1]


def date_floor_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)
