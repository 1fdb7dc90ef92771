"""Prometheus text exposition (what dcgm-exporter, node_exporter and kube-state-metrics serve) to a frame of samples.

Vectorised in Polars instead of a line-by-line parser. `read_exposition` lets Polars' CSV reader split every line at
`}` (the end of a label set), so one native pass yields `name{labels` and ` value [timestamp]`; it then checks that
the pieces add up to the file byte for byte, and where they do not (a `}` inside a label value, CRLF line ends,
invalid UTF-8) reads the file the general way instead: lines cut at `{`, `}` and blanks, one regular expression for
what the cut cannot read. Labels are pulled out once per distinct label set (a scrape repeats each GPU's labels for
every field). prometheus_client's parser is the correctness reference in the tests; it is about forty times slower."""

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
    the declared type of each metric family, and the text of every line (computed only for the lines asked for)."""

    samples: pl.DataFrame
    bad: pl.DataFrame
    types: dict[str, str]
    lines: pl.LazyFrame

    def with_text(self, frame: pl.DataFrame) -> pl.DataFrame:
        """`frame` (with a `line` column) with the text of each of its lines, for quarantining them."""
        texts = self.lines.join(frame.lazy().select("line"), on="line", how="semi").collect()
        return frame.join(texts, on="line", how="left")


def read_exposition(source: Path | bytes) -> Exposition:
    """Parse a file or its bytes: the split at `}` when it accounts for every byte, else the general path."""
    data = source if isinstance(source, bytes) else None
    if data is None:
        size = source.stat().st_size
        with source.open("rb") as handle:
            handle.seek(max(size - 1, 0))
            ends_with_newline = handle.read(1) == b"\n"
    else:
        size, ends_with_newline = len(data), data.endswith(b"\n")
    pieces = _split_at_braces(io.BytesIO(data) if data is not None else source, size, ends_with_newline)
    if pieces is None:
        return parse(read_lines(data if data is not None else source.read_bytes()))
    return _parse_pieces(pieces)


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
    invalid_name = pl.when(~pl.col("name").is_in(valid)).then(pl.lit("not a sample line (malformed or truncated)"))
    parts = parts.with_columns(invalid_name.otherwise(_reason()).alias("reason"))
    bad = parts.filter(pl.col("reason").is_not_null()).select("line", "reason")
    bad = bad.join(lines.select("line", "text"), on="line", how="left").sort("line")
    samples = parts.filter(pl.col("reason").is_null()).select("line", "name", "labels", "value", "ts_ms")
    types = dict(zip(types["1"].to_list(), types["2"].to_list(), strict=True))
    return Exposition(samples.sort("line"), bad, types, lines.lazy().select("line", "text"))


def _split_at_braces(source: io.BytesIO | Path, size: int, ends_with_newline: bool) -> pl.DataFrame | None:
    """Every line split at its first two `}`: columns a, b, c and the line number; None when the pieces and the
    separators do not add up to the file's bytes (a line with more than two `}`, an empty piece, CRLF, a byte
    order mark, invalid UTF-8), since then a line could not be told from another one."""
    if size == 0:
        return None
    try:
        pieces = pl.read_csv(
            source,
            has_header=False,
            separator="}",
            quote_char=None,
            schema=dict.fromkeys("abc", pl.String),
            truncate_ragged_lines=True,
            missing_columns="insert",
        )
    except pl.exceptions.ComputeError:  # not UTF-8
        return None
    a, b, c = pl.col("a"), pl.col("b"), pl.col("c")
    accounted = pieces.select(
        pl.sum_horizontal(piece.str.len_bytes().sum() for piece in (a, b, c))
        + b.is_not_null().sum()
        + c.is_not_null().sum()
    ).item()
    newlines = pieces.height if ends_with_newline else pieces.height - 1
    if accounted + newlines != size:
        return None
    return pieces.with_row_index("line", offset=1)


def _parse_pieces(pieces: pl.DataFrame) -> Exposition:
    """The common line (`name{labels} value [timestamp]`, one `}`) read from its pieces; every other line, comments
    included, goes through `parse` with its text put back together."""
    a, b, c = pl.col("a"), pl.col("b"), pl.col("c")
    text = pl.concat_str(
        a.fill_null(""), pl.concat_str(pl.lit("}"), b).fill_null(""), pl.concat_str(pl.lit("}"), c).fill_null("")
    ).alias("text")
    common = b.is_not_null() & c.is_null()  # a comment with one `}` is caught below by its name
    blanks = b.str.count_matches(" ", literal=True)
    if pieces.select((blanks.filter(common) == 1).all()).item():  # no timestamps (what exporters write): one blank
        value = pl.struct(b.str.slice(1).alias("raw_value"), pl.lit(None, pl.String).alias("raw_ts"))
        spaced = b.str.starts_with(" ") & ~b.str.contains("\t", literal=True)
    else:
        value = b.str.strip_prefix(" ").str.splitn(" ", 2).struct.rename_fields(["raw_value", "raw_ts"])
        spaced = b.str.starts_with(" ") & ~b.str.ends_with(" ") & ~b.str.contains("\t", literal=True)
    fast = (
        pieces.lazy()
        .filter(common)
        .select(
            "line",
            a.str.len_bytes().alias("_len"),
            a.str.split_exact("{", 1).struct.rename_fields(["name", "labels"]).alias("_head"),  # faster than splitn
            value.alias("_tail"),
            spaced.alias("_blanks"),
        )
    )
    whole = pl.col("name").str.len_bytes() + 1 + pl.col("labels").str.len_bytes() == pl.col("_len")  # one `{`
    shaped = (
        whole.fill_null(False)
        & pl.col("_blanks")
        & (pl.col("raw_value") != "")
        & ~pl.col("raw_ts").str.contains(" ", literal=True).fill_null(False)
    )
    fast = fast.unnest("_head", "_tail").with_columns(shaped.alias("_shaped"))
    rest = pieces.lazy().filter(~common).select("line", text)
    fast, rest = pl.collect_all([fast, rest])
    clean = pl.col("_shaped") & pl.col("name").is_in(_valid_names(fast))
    if not fast.select(clean.all()).item():
        unclean = fast.filter(~clean).select("line")
        rest = pl.concat([rest, _text_of(pieces, unclean, text)]).sort("line")
        fast = fast.filter(clean)
    general = parse(rest)
    fast = fast.with_columns(
        pl.col("raw_value").cast(pl.Float64, strict=False).alias("value"),
        pl.col("raw_ts").cast(pl.Int64, strict=False).alias("ts_ms"),
    )
    # a cut sample whose value and timestamp cast is a sample (text with a brace or a quote is no number); only the
    # others need a reason, worked out on them alone
    suspect = pl.col("value").is_null() | (pl.col("raw_ts").is_not_null() & pl.col("ts_ms").is_null())
    bad = fast.filter(suspect).select("line", _reason().alias("reason"))
    if bad.height:
        fast = fast.filter(~suspect)
    samples = fast.select("line", "name", "labels", "value", "ts_ms")
    if bad.height:
        bad = bad.join(_text_of(pieces, bad, text), on="line", how="left")
    else:
        bad = bad.with_columns(pl.lit(None, pl.String).alias("text"))
    if general.samples.height:
        samples = pl.concat([samples, general.samples]).sort("line")
    if general.bad.height:
        bad = pl.concat([bad, general.bad]).sort("line")
    return Exposition(samples, bad, general.types, pieces.lazy().select("line", text))


def _text_of(pieces: pl.DataFrame, lines: pl.DataFrame, text: pl.Expr) -> pl.DataFrame:
    """The text of just these lines, put back together (doing it for every line costs a third of the parse)."""
    return pieces.join(lines.select("line"), on="line", how="semi").select("line", text)


def _reason() -> pl.Expr:
    """Why a cut sample is not one, or null."""
    return (
        pl.when(
            pl.col("name").is_null()
            | pl.col("raw_value").is_null()
            | pl.col("raw_value").str.contains(r'[{}"=]')  # a label set cut short
        )
        .then(pl.lit("not a sample line (malformed or truncated)"))
        .when(pl.col("value").is_null())
        .then(pl.lit("sample value is not a number"))
        .when(pl.col("raw_ts").is_not_null() & pl.col("ts_ms").is_null())
        .then(pl.lit("sample timestamp is not an integer"))
    )


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
    # joined on a 64-bit hash of the label set, not the long string; a collision (checked) falls back to the string
    keyed = samples.with_columns(pl.col("labels").hash().alias("_set"))
    sets = keyed.select("_set", "labels").unique("_set").with_columns(_label(name) for name in names)
    joined = keyed.join(sets.rename({"labels": "_labels"}), on="_set", how="left")
    if joined.select((pl.col("labels") == pl.col("_labels")).all()).item():
        return joined.drop("_set", "_labels")
    sets = samples.select("labels").unique().with_columns(_label(name) for name in names)
    return samples.join(sets, on="labels", how="left")


def _label(name: str) -> pl.Expr:
    # the value unrolled as runs of plain characters between escapes: the same language as (?:[^"\\]|\\.)*, and
    # about a third faster in Rust's regex engine
    raw = pl.col("labels").str.extract(rf'(?:^|,)[ \t]*{name}[ \t]*=[ \t]*"([^"\\]*(?:\\.[^"\\]*)*)"', 1)
    return raw.str.replace_all(r"\n", "\n", literal=True).str.replace_all(r'\\(["\\])', "$1").alias(name)
