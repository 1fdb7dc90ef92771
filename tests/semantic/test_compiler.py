"""The semantic layer: metric definitions, the compiler's errors, and answers that match the hand computation."""

import json
from datetime import datetime

import pytest

from pipelines.cli import main
from pipelines.semantic.catalog import MetricError, load_catalog
from pipelines.semantic.compiler import MetricQuery, compile_query
from pipelines.semantic.query import query

CATALOG = load_catalog()


def test_the_north_star_its_factors_and_supporting_kpis_are_defined():
    assert {"goodput", "availability", "allocation", "retention", "step_efficiency"} <= set(CATALOG)
    for metric in CATALOG.values():
        assert metric.owner in ("Infra", "ML Platform", "Finance")
        assert metric.description and metric.label


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (MetricQuery(["goodness"]), "unknown metric goodness; valid: "),
        (MetricQuery(["goodput"], by=["colour"]), "no dimension 'colour'; valid: region"),
        (MetricQuery(["goodput"], grain="fortnight"), "unknown grain 'fortnight'; valid: minute, 5min"),
        (MetricQuery(["goodput"], where={"planet": "mars"}), "no dimension 'planet'"),
    ],
)
def test_errors_list_what_is_valid(request_, message):
    with pytest.raises(MetricError, match=message):
        compile_query(request_, CATALOG)


def test_user_input_is_bound_never_pasted():
    sneaky = "x'; drop table marts.fct_goodput__daily; --"
    compiled = compile_query(MetricQuery(["goodput"], by=["team"], where={"team": sneaky}), CATALOG)
    assert sneaky not in compiled[0].sql and sneaky in compiled[0].params.values()


def test_coarse_grains_read_rollups():
    assert "fct_goodput__daily" in compile_query(MetricQuery(["goodput"], grain="week"), CATALOG)[0].sql
    assert "fct_goodput__gpu_minutes" in compile_query(MetricQuery(["goodput"], grain="minute"), CATALOG)[0].sql


@pytest.mark.parametrize("grain", ["minute", "5min", "hour", "day", "week"])
def test_every_grain_gives_the_hand_computed_goodput_in_total(tiny_db, grain):
    frame = query(["goodput", "availability", "allocation"], grain=grain, db=tiny_db)
    if grain in ("day", "week"):
        assert frame["goodput"].to_list() == pytest.approx([81.1 / 240])
        assert frame["allocation"].to_list() == pytest.approx([139 / 219])
    assert len(frame) == {"minute": 60, "5min": 12, "hour": 1, "day": 1, "week": 1}[grain]


def test_ratios_sum_before_dividing_across_slices(tiny_db):
    frame = query("step_efficiency", by=["team"], grain="day", db=tiny_db)
    by_team = dict(zip(frame["team"], frame["step_efficiency"], strict=True))
    # t1: A and B retained 59 + 20 = 79 GPU-minutes, productive 48.8 + 19.8 = 68.6
    assert by_team["t1"] == pytest.approx(68.6 / 79)
    assert by_team["t2"] == pytest.approx(0.25)


def test_filters_and_time_ranges(tiny_db):
    frame = query(
        "goodput",
        grain="hour",
        where={"node_id": "n2"},
        db=tiny_db,
        start=datetime(2026, 3, 2, 10),
        end=datetime(2026, 3, 2, 11),
    )
    # n2: 120 paid GPU-minutes, C's 12.5 productive
    assert frame["goodput"].to_list() == pytest.approx([12.5 / 120])


def test_a_filter_of_several_values_keeps_any_of_them(tiny_db):
    both = query("goodput", grain="day", where={"node_id": ["n1", "n2"]}, db=tiny_db)
    one = query("goodput", grain="day", where={"node_id": ["n2"]}, db=tiny_db)
    assert both["goodput"].to_list() == pytest.approx([81.1 / 240])  # n1 and n2 are the whole fleet
    assert one["goodput"].to_list() == pytest.approx([12.5 / 120])


def test_query_command_prints_rows_as_json(tiny_db_path, capsys):
    assert (
        main(
            [
                "query",
                "goodput",
                "retention",
                "--by",
                "region",
                "--grain",
                "day",
                "--db",
                str(tiny_db_path),
                "--format",
                "json",
            ]
        )
        == 0
    )
    rows = json.loads(capsys.readouterr().out)
    assert rows == [
        {
            "bucket_at": "2026-03-02T00:00:00Z",
            "region": "r1",
            "goodput": pytest.approx(81.1 / 240),
            "retention": pytest.approx(129 / 139),
        }
    ]


def test_metrics_command_documents_each_metric(capsys):
    assert main(["metrics", "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {m["name"] for m in listed} == set(CATALOG)
