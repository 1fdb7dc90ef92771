"""The vectorised exposition parser against prometheus_client (the reference) on real exporter output, and its
handling of bad lines."""

import re
from pathlib import Path

import polars as pl
import pytest
from prometheus_client.parser import text_string_to_metric_families

from pipelines.adapters.prometheus import parse, read_lines, with_labels

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "real"  # a copy of ../shared/fixtures
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def _ours(data: bytes) -> set[tuple]:
    samples = parse(read_lines(data)).samples
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
def test_every_sample_matches_prometheus_client(name):
    data = (FIXTURES / name).read_bytes()
    ours = _ours(data)
    reference = _reference(data.decode("utf-8", errors="replace"))
    assert len(ours) == len(reference) > 10
    assert ours == reference


def test_bad_lines_are_kept_with_their_line_number_and_reason():
    text = (
        b'a_metric{gpu="0"} 1\n# HELP x y\nnot a sample\nb_metric 2 1700000000000\nc_metric{gpu="1"} abc\ntrunc{gpu="'
    )
    parsed = parse(read_lines(text))
    assert parsed.samples.select("line", "name", "value", "ts_ms").rows() == [
        (1, "a_metric", 1.0, None),
        (4, "b_metric", 2.0, 1700000000000),
    ]
    assert parsed.bad.select("line", "reason").rows() == [
        (3, "sample value is not a number"),  # "not" with value "a"
        (5, "sample value is not a number"),
        (6, "not a sample line (malformed or truncated)"),
    ]


def test_labels_with_braces_commas_and_escapes():
    text = b'm{path="a}b, c",q="say \\"hi\\"",gpu="3"} 7\n'
    samples = with_labels(parse(read_lines(text)).samples, ["path", "q", "gpu", "absent"])
    assert samples.select("path", "q", "gpu", "absent").rows() == [("a}b, c", 'say "hi"', "3", None)]


def test_special_values():
    samples = parse(read_lines(b"a NaN\nb +Inf\nc -Inf\nd 1e3\n")).samples
    values = samples["value"].to_list()
    assert values[1:] == [float("inf"), float("-inf"), 1000.0] and values[0] != values[0]
    assert pl.Series(values).is_nan().to_list() == [True, False, False, False]
