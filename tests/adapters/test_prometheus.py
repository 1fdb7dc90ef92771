"""The vectorised exposition parser against prometheus_client (the reference) on real exporter output, and its
handling of bad lines."""

import re
from pathlib import Path

import polars as pl
import pytest
from prometheus_client.parser import text_string_to_metric_families

from pipelines.adapters.prometheus import parse, read_exposition, read_lines, with_labels

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "real"  # a copy of ../shared/fixtures
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def _general(data: bytes):
    return parse(read_lines(data))


READERS = {"split at braces": read_exposition, "general": _general}


@pytest.fixture(params=list(READERS))
def read(request):
    return READERS[request.param]


def _ours(data: bytes, read=read_exposition) -> set[tuple]:
    samples = read(data).samples
    return {
        (row["name"], tuple(sorted(LABEL.findall(row["labels"]))), row["value"])
        for row in samples.iter_rows(named=True)
    }


def _reference(text: str) -> set[tuple]:
    """prometheus_client's samples; it names a counter's sample <name>_total even where the exporter did not."""
    written = set(re.findall(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)", text, flags=re.M))
    return {
        (s.name if s.name in written else s.name.removesuffix("_total"), tuple(sorted(s.labels.items())), s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.mark.parametrize("name", ["dcgm/datadog_t4_a10g_excerpt.prom", "node_exporter/e2e-output.txt"])
def test_every_sample_matches_prometheus_client(name, read):
    data = (FIXTURES / name).read_bytes()
    ours = _ours(data, read)
    reference = _reference(data.decode("utf-8", errors="replace"))
    assert len(ours) == len(reference) > 10
    assert ours == reference


def test_bad_lines_are_kept_with_their_line_number_and_reason(read):
    text = (
        b'a_metric{gpu="0"} 1\n# HELP x y\nnot a sample\nb_metric 2 1700000000000\nc_metric{gpu="1"} abc\ntrunc{gpu="'
    )
    parsed = read(text)
    assert parsed.samples.select("line", "name", "value", "ts_ms").rows() == [
        (1, "a_metric", 1.0, None),
        (4, "b_metric", 2.0, 1700000000000),
    ]
    assert parsed.bad.select("line", "reason").rows() == [
        (3, "sample value is not a number"),  # "not" with value "a"
        (5, "sample value is not a number"),
        (6, "not a sample line (malformed or truncated)"),
    ]


def test_labels_with_braces_commas_and_escapes(read):
    text = b'm{path="a}b, c",q="say \\"hi\\"",gpu="3"} 7\n'
    samples = with_labels(read(text).samples, ["path", "q", "gpu", "absent"])
    assert samples.select("path", "q", "gpu", "absent").rows() == [("a}b, c", 'say "hi"', "3", None)]


def test_special_values(read):
    samples = read(b"a NaN\nb +Inf\nc -Inf\nd 1e3\n").samples
    values = samples["value"].to_list()
    assert values[1:] == [float("inf"), float("-inf"), 1000.0] and values[0] != values[0]
    assert pl.Series(values).is_nan().to_list() == [True, False, False, False]


AWKWARD = [
    b'm{a="1"} 5}\n',  # a trailing brace: not a sample, though "m{a=\"1\"} 5" would be
    b"metric 5}\n",
    b'm{a="1"}} 5\n',
    b'}m{a="1"} 5\n',
    b'm{a="}}}"} 5\n',  # three braces in one line
    b'm{a="{"} 5\n',
    b'm{a="1"}  5\n',  # two blanks
    b'm{a="1"} 5 \n',  # a trailing blank
    b'm{a="1"}\t5\t17\n',
    b'm {a="1"} 5\n',
    b'  m{a="1"} 5\n',
    b'm{a="1"} 5 17\r\nn 6\r\n',  # CRLF
    b'\xef\xbb\xbfm{a="1"} 5\n',  # a byte order mark
    b'm{a="\xff"} 5\n',  # not UTF-8
    b'm{a="\xc3\xa9t\xc3\xa9"} 5\n',  # UTF-8 in a label value
    b'm{a="1"} 5 17 18\n',
    b'm{a="1"} 5 1700000000000\n',  # a timestamp: the value and the time are split
    b'm{a="1"}5 6\n',  # one blank, not after the brace
    b'm{a="1"} 5',  # no final newline
    b'm{a="1"} 5\n\n\n',
    b'# HELP m a {braced} help text\n# TYPE m gauge\nm{a="1"} 5\n',
    b'm{a="1"}\n',
    b'm{a="1"\n',
]


@pytest.mark.parametrize("text", AWKWARD)
def test_the_split_at_braces_reads_every_line_as_the_general_path_does(text):
    """The fast reader must never read a line differently: same samples, same bad lines with the same text."""
    text = b'first{gpu="0"} 1\n' + text
    fast, general = read_exposition(text), _general(text)
    assert fast.samples.to_dicts() == general.samples.to_dicts() or (
        fast.samples.drop("value").equals(general.samples.drop("value"))
        and fast.samples["value"].is_nan().equals(general.samples["value"].is_nan())
    )
    assert fast.bad.to_dicts() == general.bad.to_dicts()
    assert fast.types == general.types


def test_a_file_and_its_bytes_read_the_same(tmp_path):
    text = (FIXTURES / "dcgm/datadog_t4_a10g_excerpt.prom").read_bytes()
    path = tmp_path / "scrape.prom"
    path.write_bytes(text)
    from_file, from_bytes = read_exposition(path), read_exposition(text)
    assert from_file.samples.equals(from_bytes.samples) and from_file.samples.height > 10


def test_quarantined_lines_keep_their_exact_text():
    text = b'm{a="1"} 5\nm{a="2"} x\nbroken{a="\n'
    parsed = read_exposition(text)
    rows = parsed.with_text(parsed.samples.select("line")).select("line", "text").rows()
    assert rows == [(1, 'm{a="1"} 5')]
    assert parsed.bad.select("line", "text").rows() == [(2, 'm{a="2"} x'), (3, 'broken{a="')]


def test_label_sets_are_matched_by_their_text():
    samples = read_exposition(b'm{gpu="0",h="a"} 1\nn{gpu="1",h="b"} 2\nm{gpu="0",h="a"} 3\n').samples
    assert with_labels(samples, ["gpu", "h"]).select("value", "gpu", "h").rows() == [
        (1.0, "0", "a"),
        (2.0, "1", "b"),
        (3.0, "0", "a"),
    ]
