"""Prometheus text exposition (what dcgm-exporter, node_exporter and kube-state-metrics serve) to a frame of samples.

Vectorised in Polars instead of a line-by-line parser: lines are cut at the positions of `{`, `}` and the blanks
(cheap scans), values cast in bulk, and labels pulled out once per distinct label set (a scrape repeats each GPU's
labels for every field). Lines the fast cut cannot read safely (a `}` inside a label value) take one regular
expression. prometheus_client's parser is the correctness reference in the tests; it is about twenty times slower."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

import polars as pl

SAMPLE = r"^([a-zA-Z_:][a-zA-Z0-9_:]*)[ \t]*(?:\{(.*)\})?[ \t]*([^ \t]+)(?:[ \t]+(-?[0-9]+))?[ \t]*$"
TYPE_LINE = r"^#[ \t]+TYPE[ \t]+([a-zA-Z_:][a-zA-Z0-9_:]*)[ \t]+([a-z]+)"
METRIC_NAME = r"^[a-zA-Z_:][a-zA-Z0-9_:]*$"
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
NOT_A_BYTE_OF_TEXT = "\x1f"  # the unit separator: read_csv needs a separator; text lines do not hold this one


@dataclass
class Exposition:
    """Samples (line, name, labels, value, ts_ms) of one text, the lines that did not parse (line, reason, text),
    and the declared type of each metric family."""

    samples: pl.DataFrame
    bad: pl.DataFrame
    types: dict[str, str]


def read_lines(data: bytes) -> pl.DataFrame:
    """Lines with their 1-based numbers. Undecodable bytes become U+FFFD rather than failing the file."""
    if NOT_A_BYTE_OF_TEXT.encode() in data or b"\r" in data:
        data = data.replace(b"\r\n", b"\n").replace(NOT_A_BYTE_OF_TEXT.encode(), b"?")
    if not data:
        return pl.DataFrame({"line": [], "text": []}, schema={"line": pl.UInt32, "text": pl.String})
    frame = pl.read_csv(
        io.BytesIO(data),
        has_header=False,
        separator=NOT_A_BYTE_OF_TEXT,
        quote_char=None,
        new_columns=["text"],
        schema_overrides={"text": pl.String},
        encoding="utf8-lossy",
    )
    frame = frame.with_columns(pl.col("text").fill_null(""))
    return frame.with_row_index("line", offset=1)


def read_file(path: Path) -> pl.DataFrame:
    return read_lines(path.read_bytes())


def parse(lines: pl.DataFrame) -> Exposition:
    """Parse exposition lines (as from `read_lines`). A sample whose value is not a number, or a line that is neither
    a comment nor a sample (a truncated last line, say), goes to `bad` with its reason."""
    text = pl.col("text")
    padded = text.str.starts_with(" ") | text.str.starts_with("\t")
    if lines.select(padded.any()).item():  # rare: leading blanks are allowed but exporters do not write them
        lines = lines.with_columns(pl.when(padded).then(text.str.strip_chars_start()).otherwise(text).alias("text"))
    is_comment = text.str.starts_with("#")
    types = lines.lazy().filter(is_comment).select(text.str.extract_groups(TYPE_LINE)).unnest("text").drop_nulls()
    fast, slow = _cut(lines.lazy().filter(~is_comment & (text != "")))
    fast, slow, types = pl.collect_all([fast, slow, types])
    valid = _valid_names(fast)
    # what the cut did not read cleanly (two blanks, a blank before `{`, garbage after the value) gets the regex
    unclean = ~pl.col("name").is_in(valid) | (pl.col("raw_value") == "") | pl.col("raw_ts").str.contains(" ")
    retry = fast.filter(unclean.fill_null(False)).select("line").join(lines.select("line", "text"), on="line")
    fast = fast.filter(~unclean.fill_null(False))
    parts = pl.concat([fast, _by_regex(pl.concat([slow, retry])).drop("text")], how="vertical")
    valid = _valid_names(parts)
    parts = parts.with_columns(
        pl.col("raw_value").cast(pl.Float64, strict=False).alias("value"),
        pl.col("raw_ts").cast(pl.Int64, strict=False).alias("ts_ms"),
    )
    reason = (
        pl.when(
            pl.col("name").is_null()
            | ~pl.col("name").is_in(valid)
            | pl.col("raw_value").is_null()
            | pl.col("raw_value").str.contains(r'[{}"=]')  # a label set cut short
        )
        .then(pl.lit("not a sample line (malformed or truncated)"))
        .when(pl.col("value").is_null())
        .then(pl.lit("sample value is not a number"))
        .when(pl.col("raw_ts").is_not_null() & pl.col("ts_ms").is_null())
        .then(pl.lit("sample timestamp is not an integer"))
    )
    parts = parts.with_columns(reason.alias("reason"))
    bad = parts.filter(pl.col("reason").is_not_null()).select("line", "reason")
    bad = bad.join(lines.select("line", "text"), on="line", how="left").sort("line")
    samples = parts.filter(pl.col("reason").is_null()).select("line", "name", "labels", "value", "ts_ms")
    return Exposition(samples.sort("line"), bad, dict(zip(types["1"].to_list(), types["2"].to_list(), strict=True)))


def _valid_names(frame: pl.DataFrame) -> pl.Series:
    """The metric names in the frame that are valid ones, checked once per distinct name (a scrape repeats them)."""
    names = frame.select(pl.col("name").unique().drop_nulls())
    return names.filter(pl.col("name").str.contains(METRIC_NAME))["name"].implode()


def _cut(body: pl.LazyFrame) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """Plain ASCII samples with at most one `{` and one `}`, cut at those positions and at single blanks; the rest
    are returned for the regular expression. (Slices take a column offset or a column length, never both: that
    kernel is five times slower.)"""
    text = pl.col("text")
    simple = (
        (text.str.count_matches("{", literal=True) == text.str.count_matches("}", literal=True))
        & ~text.str.contains("\t", literal=True)
        & ~text.str.ends_with(" ")
        & (text.str.len_bytes() == text.str.len_chars())  # find() counts bytes, slice() characters
    )
    marked = body.with_columns(
        simple.alias("_simple"),
        text.str.find("{", literal=True).alias("_lb"),
        text.str.find("}", literal=True).alias("_rb"),
        text.str.find(" ", literal=True).alias("_sp"),
    )
    in_order = (pl.col("_lb") < pl.col("_rb")).fill_null(True)
    slow = marked.filter(~pl.col("_simple") | ~in_order).select("line", "text")
    fast = marked.filter(pl.col("_simple") & in_order).with_columns(
        pl.coalesce("_lb", "_sp").alias("_head"), (pl.coalesce(pl.col("_rb") + 1, pl.col("_sp")) + 1).alias("_at")
    )
    fast = fast.select(
        "line",
        text.str.head(pl.col("_head")).alias("name"),
        text.str.slice(pl.col("_lb") + 1).str.head(pl.col("_rb") - pl.col("_lb") - 1).fill_null("").alias("labels"),
        text.str.slice(pl.col("_at")).alias("_tail"),
    )
    tail = pl.col("_tail")
    fast = fast.with_columns(tail.str.find(" ", literal=True).alias("_blank"))
    blank = pl.col("_blank")
    return (
        fast.select(
            "line",
            "name",
            "labels",
            tail.str.head(pl.coalesce(blank, tail.str.len_bytes())).alias("raw_value"),
            tail.str.slice(blank + 1).alias("raw_ts"),
        ),
        slow,
    )


def _by_regex(slow: pl.DataFrame) -> pl.DataFrame:
    parts = slow.with_columns(pl.col("text").str.strip_chars().str.extract_groups(SAMPLE).alias("m")).unnest("m")
    parts = parts.rename({"1": "name", "2": "labels", "3": "raw_value", "4": "raw_ts"})
    return parts.with_columns(pl.col("labels").fill_null("")).select(
        "line", "name", "labels", "raw_value", "raw_ts", "text"
    )


def with_labels(samples: pl.DataFrame, names: list[str]) -> pl.DataFrame:
    """`samples` with a column per label name (null where a sample lacks it), extracted once per distinct label set.
    Escaped quotes, backslashes and newlines in values are unescaped as the exposition format defines them."""
    for name in names:
        if not LABEL_NAME.match(name):
            raise ValueError(f"not a Prometheus label name: {name!r}")
    sets = samples.select("labels").unique()
    sets = sets.with_columns(_label(name) for name in names)
    return samples.join(sets, on="labels", how="left")


def _label(name: str) -> pl.Expr:
    raw = pl.col("labels").str.extract(rf'(?:^|,)[ \t]*{name}[ \t]*=[ \t]*"((?:[^"\\]|\\.)*)"', 1)
    return raw.str.replace_all(r"\n", "\n", literal=True).str.replace_all(r'\\(["\\])', "$1").alias(name)
