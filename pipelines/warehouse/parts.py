"""Each table of the working file as immutable Parquet parts, rewritten only where a write changed it.

Three ways to keep a table's parts, by what is known of how it changes:
- `time`: a model incremental by time. Parts are quarter hours of its time column, and whole days once a day is
  well behind what a tick may restate; a write that recomputed from time T rewrites the parts from T on, nothing
  before (a tick rewrites a quarter hour at most, whatever the minute).
- `append`: a raw table (rows are only added, stamped `_loaded_at`): each publish adds the rows loaded since as one
  part, and every 24 parts of one level merge into one of the next, so the part count stays small.
- `keyed`: a model incremental by unique key with `parts_by` (a time column): parts are days of that column, and a
  publish rewrites the days its writes marked as touched (see `modeling.runner.mark_touched`), nothing else.
- `whole`: anything else (full rebuilds, keyed models, alerts, control): rewritten as one part when its fingerprint
  (row count and a hash of every row) changed.
A part is never written over: a new generation writes new files, so a reader of an older snapshot is undisturbed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
from sqlglot import exp

from pipelines.warehouse.connection import newest_load

QUARTER = timedelta(minutes=15)
DAY = timedelta(days=1)
NULL_KEY = "__null"
EMPTY_KEY = "empty"  # the one part of a table without rows
# quarter hours of a day become one part once the restatement point is this far past the day's end: a tick restates lost
# work up to six hours back and a late inventory snapshot up to two days, which then rewrites from that day on
COMPACT_AFTER = DAY
FANOUT = 24  # append parts of one level that merge into one of the next
MAX_LEVEL = 2  # 24 ticks make a level-1 part (two hours), 24 of those a level-2 part (two days)


@dataclass(frozen=True)
class Table:
    name: str  # schema.table
    strategy: str  # time, append or whole
    column: str | None = None  # the time column (time) or `_loaded_at` (append)
    align: str | None = None  # a rollup's bucket (its rows sit at the bucket's start)

    @property
    def sql_name(self) -> str:
        return quoted(self.name)


def quoted(name: str) -> str:
    """schema.table as quoted identifiers (cheaper than sqlglot on the tick's clock, and as safe)."""
    return ".".join('"' + part.replace('"', '""') + '"' for part in name.split("."))


def columns(con: duckdb.DuckDBPyConnection, name: str) -> list[list[str]]:
    schema, table = name.split(".")
    rows = con.execute(
        "select column_name, data_type from information_schema.columns where table_schema = ? and table_name = ? "
        "order by ordinal_position",
        [schema, table],
    ).fetchall()
    return [[column, kind] for column, kind in rows]


def all_columns(con: duckdb.DuckDBPyConnection) -> dict[str, list[list[str]]]:
    """Every table's columns and types in order, in one look at the catalogue."""
    rows = con.execute(
        "select table_schema, table_name, column_name, data_type from information_schema.columns "
        "where table_catalog = current_database() order by table_schema, table_name, ordinal_position"
    ).fetchall()
    found: dict[str, list[list[str]]] = {}
    for schema, table, column, kind in rows:
        found.setdefault(f"{schema}.{table}", []).append([column, kind])
    return found


def export_time(con, table: Table, entry: dict | None, since: datetime | None, out: Path) -> dict:
    """The table's parts after rewriting every part from `since` on (all of them with no entry or no `since`)."""
    column = exp.to_identifier(table.column, quoted=True).sql("duckdb")
    parts = dict(entry["parts"]) if entry else {}
    parts.pop(EMPTY_KEY, None)
    where = "true"
    if entry is None or since is None:
        parts, start = {}, None
        newest = con.execute(f"select max({column}) from {table.sql_name}").fetchall()[0][0]
        hot = _floor(_as_datetime(newest), DAY) if newest is not None else None
        if hot is not None:  # days before the newest one, a statement each: memory follows a day, not the history
            parts.update(_copy_days(con, table, column, hot, out))
            where = f"{column} >= $hot or {column} is null"
    else:
        overlapping = [k for k in parts if k != NULL_KEY and _key_end(k) > since]
        start = min([_key_start(k) for k in overlapping] + [_floor(since, QUARTER)])
        for key in overlapping:
            del parts[key]
        hot = _floor(start, DAY)
    key = (
        f"case when {column} is null then '{NULL_KEY}' "
        + (f"when {column} < $hot then 'D' || strftime({column}, '%Y%m%d') " if hot is not None else "")
        + f"else 'Q' || strftime(time_bucket(interval 15 minute, {column}::timestamp), '%Y%m%dT%H%M') end"
    )
    where = where if start is None else f"{column} >= $start"
    query = f"select *, {key} as _part from {table.sql_name} where {where}"
    params = {k: v for k, v in (("hot", hot), ("start", start)) if v is not None}
    parts.update(_copy_partitioned(con, query, params, out))
    return {"parts": parts}


def compact_time(con, entry: dict, since: datetime | None, out: Path) -> bool:
    """Merge the quarter-hour parts of the oldest day well behind `since` into one part; False when none is due."""
    if since is None:
        return False
    limit = _floor(since, DAY) - COMPACT_AFTER
    days = sorted({k[1:9] for k in entry["parts"] if k.startswith(HOT_LEVELS) and _key_start(k) < limit})
    if not days:
        return False
    day = days[0]
    keys = [k for k in entry["parts"] if k[0] in HOT_LEVELS and k[1:9] == day]
    files = [f for k in keys for f in entry["parts"][k]]
    target = out / f"_part=D{day}" / "p0.parquet"
    _copy(con, f"select * from read_parquet({_file_list(out, files)}, hive_partitioning = false)", None, target)
    for key in keys:
        del entry["parts"][key]
    entry["parts"][f"D{day}"] = [_relative(out, target)]
    return True


def part_key_sql(column: str) -> str:
    """The part a row of a keyed table belongs to: the day of its `parts_by` column (a quoted identifier)."""
    return f"coalesce('D' || strftime({column}::timestamp, '%Y%m%d'), '{NULL_KEY}')"


def _in_part(column: str, part: str) -> tuple[str, dict]:
    """The rows of a keyed table's part as a range of its column, which DuckDB prunes by its row groups' min and
    max: the part's key computed per row read the whole table for every part a tick touched."""
    if part == NULL_KEY:
        return f"{column} is null", {}
    day = datetime.strptime(part, "D%Y%m%d")
    return f"{column}::timestamp >= $day and {column}::timestamp < $day + interval 1 day", {"day": day}


def export_keyed(con, table: Table, entry: dict | None, touched: set[str] | None, out: Path) -> dict:
    """The table's day parts after rewriting the touched ones (every one with no entry or touched None); every
    part again when the parts no longer add up to the table (a write that marked nothing)."""
    column = exp.to_identifier(table.column, quoted=True).sql("duckdb")
    key = part_key_sql(column)
    if entry is None or touched is None or "*" in touched or "counts" not in entry:
        touched = {k for (k,) in con.execute(f"select distinct {key} from {table.sql_name}").fetchall()}
        entry = {"parts": {}, "counts": {}}
    parts, counts = dict(entry["parts"]), dict(entry["counts"])
    parts.pop(EMPTY_KEY, None)
    for part in sorted(touched):
        parts.pop(part, None)
        counts.pop(part, None)
        target = out / f"_part={part}" / "p0.parquet"
        where, params = _in_part(column, part)
        (written,) = _copy(con, f"select * from {table.sql_name} where {where}", params, target)
        if written:
            parts[part], counts[part] = [_relative(out, target)], written
        else:
            target.unlink()
    (total,) = con.execute(f"select count(*) from {table.sql_name}").fetchall()[0]
    if sum(counts.values()) != total and entry["parts"]:
        return export_keyed(con, table, None, None, out)
    return {"parts": parts, "counts": counts}


def export_append(con, table: Table, entry: dict | None, replaced: bool, generation: int, out: Path) -> dict:
    """Add the rows loaded since the last publish as one part; everything again when rows went away or changed."""
    name = table.sql_name
    through = entry.get("through") if entry else None
    (total,) = con.execute(f"select count(*) from {name}").fetchall()[0]  # from the table's metadata
    since = datetime.fromisoformat(through) if through else None
    if since is None:
        loaded, newest = total, newest_load(con, name)
    else:  # the rows loaded since, counted and stamped in one pass over the table's last row groups
        query = f"select count(*), max(_loaded_at) from {name} where _loaded_at > $since"
        loaded, newest = con.execute(query, {"since": since}).fetchall()[0]
    fresh = None
    if entry is not None and not replaced:
        fresh = loaded
        if entry["rows"] + fresh != total:
            fresh = None  # rows were deleted: the parts no longer add up to the table
    parts = {} if fresh is None else dict(entry["parts"])
    parts.pop(EMPTY_KEY, None)
    if fresh is None or fresh:
        where = "true" if fresh is None or not through else "_loaded_at > $through"
        # everything again goes to the top level, which never merges: a first tick's merge of the small parts must not
        # rewrite the whole history with them
        level = MAX_LEVEL if fresh is None else 0
        target = out / f"L{level}-g{generation:06d}.parquet"
        params = {"through": datetime.fromisoformat(through)} if "$through" in where else None
        _copy(con, f"select * from {name} where {where}", params, target)
        parts[f"L{level}-g{generation:06d}"] = [_relative(out, target)]
    return {"parts": parts, "rows": total, "through": newest.isoformat() if newest else through}


def compact_append(con, entry: dict, generation: int, out: Path) -> bool:
    for level in range(MAX_LEVEL):
        keys = sorted(k for k in entry["parts"] if k.startswith(f"L{level}-"))
        if len(keys) >= FANOUT:
            files = [f for k in keys for f in entry["parts"][k]]
            target = out / f"L{level + 1}-g{generation:06d}.parquet"
            _copy(con, f"select * from read_parquet({_file_list(out, files)}, hive_partitioning = false)", None, target)
            for key in keys:
                del entry["parts"][key]
            entry["parts"][f"L{level + 1}-g{generation:06d}"] = [_relative(out, target)]
            return True
    return False


def fingerprint(con, table: Table) -> list:
    count, digest = con.execute(
        f"select count(*), coalesce(sum(hash(t)::hugeint), 0)::varchar from {table.sql_name} as t"
    ).fetchall()[0]
    return [count, digest]


def export_whole(con, table: Table, out: Path) -> dict:
    target = out / "all.parquet"
    _copy(con, f"select * from {table.sql_name}", None, target)
    return {"parts": {"all": [_relative(out, target)]}}


def export_empty(con, table: Table, out: Path) -> dict:
    """A table with no rows still has one (empty) part, so that its snapshot view knows its columns."""
    target = out / "empty.parquet"
    _copy(con, f"select * from {table.sql_name} limit 0", None, target)
    return {"parts": {EMPTY_KEY: [_relative(out, target)]}}


def _copy_days(con, table: Table, column: str, before: datetime, out: Path) -> dict[str, list[str]]:
    """One part per day of the table before `before`, each written by its own statement."""
    days = con.execute(
        f"select distinct date_trunc('day', {column})::timestamp as day from {table.sql_name} "
        f"where {column} < $before order by day",
        {"before": before},
    ).fetchall()
    written = {}
    for (day,) in days:
        target = out / f"_part=D{day:%Y%m%d}" / "p0.parquet"
        query = f"select * from {table.sql_name} where {column} >= $day and {column} < $day + interval 1 day"
        _copy(con, query, {"day": day}, target)
        written[f"D{day:%Y%m%d}"] = [_relative(out, target)]
    return written


def _copy_partitioned(con, query: str, params: dict, out: Path) -> dict[str, list[str]]:
    out.mkdir(parents=True, exist_ok=True)
    target = exp.Literal.string(str(out)).sql("duckdb")
    con.execute(
        f"copy ({query}) to {target} (format parquet, compression zstd, partition_by (_part), "
        "filename_pattern 'p{i}', overwrite_or_ignore)",
        params or None,
    )
    written: dict[str, list[str]] = {}
    for folder in sorted(out.glob("_part=*")):
        written[folder.name.removeprefix("_part=")] = [_relative(out, f) for f in sorted(folder.glob("*.parquet"))]
    return written


def _copy(con, query: str, params: dict | None, target: Path) -> tuple[int]:
    """Write the query's rows to one Parquet file; (rows written,)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    literal = exp.Literal.string(str(target)).sql("duckdb")
    return con.execute(f"copy ({query}) to {literal} (format parquet, compression zstd)", params).fetchall()[0]


def _relative(out: Path, file: Path) -> str:
    """Parts are named relative to the state folder's parts/ (out is parts/<table>/g<generation>)."""
    return os.path.relpath(file, out.parents[1])


def _file_list(out: Path, files: list[str]) -> str:
    root = out.parents[1]
    return exp.Array(expressions=[exp.Literal.string(str(root / f)) for f in files]).sql("duckdb")


KEY_FORMATS = {"D": ("%Y%m%d", DAY), "Q": ("%Y%m%dT%H%M", QUARTER), "H": ("%Y%m%dT%H", timedelta(hours=1))}
HOT_LEVELS = ("Q", "H")  # H: the hour parts an earlier release published, merged into days like the quarters


def _key_start(key: str) -> datetime:
    return datetime.strptime(key[1:], KEY_FORMATS[key[0]][0])


def _key_end(key: str) -> datetime:
    return _key_start(key) + KEY_FORMATS[key[0]][1]


def _floor(moment: datetime, step: timedelta) -> datetime:
    epoch = datetime(1970, 1, 1)
    return epoch + ((moment - epoch) // step) * step


def _as_datetime(value) -> datetime:
    return value if isinstance(value, datetime) else datetime.combine(value, datetime.min.time())
