"""`explain`: a decomposition worked out by hand, exact additivity on a built fleet, the family that carries an
incident, and the command line."""

import json
import math
from datetime import datetime, timedelta

import polars as pl
import pytest

from pipelines.cli import main
from pipelines.explain.decompose import MEASURES, ExplainError, explain
from pipelines.explain.run import explain_db
from pipelines.semantic.losses import FAULT_FAMILIES


def _window(rows: list[dict]) -> pl.DataFrame:
    """Slices (team) with the GPU-minutes given; every other measure 0 and every other dimension null."""
    frame = pl.DataFrame(rows)
    zeros = [pl.lit(0.0).alias(m) for m in MEASURES if m not in frame.columns]
    return frame.with_columns(zeros).with_columns(pl.col(m).cast(pl.Float64) for m in MEASURES)


def _slice(paid, fault, no_demand, dataloader, team):
    healthy = paid - fault
    allocated = healthy - no_demand
    return {
        "team": team,
        "paid_gpu_min": paid,
        "healthy_gpu_min": healthy,
        "allocated_gpu_min": allocated,
        "retained_gpu_min": allocated,
        "productive_gpu_min": allocated - dataloader,
        "loss_gpu_fault_gpu_min": fault,
        "loss_no_demand_gpu_min": no_demand,
        "loss_dataloader_gpu_min": dataloader,
    }


def test_a_decomposition_worked_out_by_hand():
    # baseline: 100 paid, 20 idle for want of demand, 8 lost to the data loader: goodput 72/100
    # current: 10 of the 100 faulty, 18 idle, 18 lost to the data loader (all on team b): goodput 54/100
    baseline = _window([_slice(50, 0, 10, 4, "a"), _slice(50, 0, 10, 4, "b")])
    current = _window([_slice(50, 5, 9, 0, "a"), _slice(50, 5, 9, 18, "b")])
    tree = explain(baseline, current, ("team",))
    assert tree["total_change"] == pytest.approx(math.log(0.54 / 0.72), abs=1e-12)
    factors = {f["factor"]: f for f in tree["factors"]}
    assert factors["availability"]["change"] == pytest.approx(math.log(0.9), abs=1e-12)
    assert factors["allocation"]["change"] == pytest.approx(0.0, abs=1e-12)  # 80/100 and 72/90
    assert factors["step_efficiency"]["change"] == pytest.approx(math.log(54 / 72 / (72 / 80)), abs=1e-12)
    # the only availability reason carries all of it; the data loader all of step efficiency
    reasons = {r["reason"]: r for f in tree["factors"] for r in f["reasons"]}
    assert reasons["gpu_fault"]["change"] == pytest.approx(math.log(0.9), abs=1e-12)
    assert reasons["gpu_fault"]["family"] == "hardware"
    assert reasons["dataloader"]["change"] == pytest.approx(math.log(0.75 / 0.9), abs=1e-12)
    # dataloader share of retained time: 8/80 -> 18/72; L(0.75, 0.9) = 0.15 / ln(0.9/0.75)
    weight = 0.15 / math.log(0.9 / 0.75)
    by_team = {s["value"]: s for s in reasons["dataloader"]["top_slices"]}
    # team b: retained share 0.5 -> 0.5 (no mix), rate 0.1 -> 0.5: rate part 0.5 * 0.4 = 0.2
    assert by_team["b"]["mix"] == pytest.approx(0.0, abs=1e-12)
    assert by_team["b"]["rate"] == pytest.approx(-0.2 / weight, abs=1e-12)
    assert by_team["a"]["rate"] == pytest.approx(0.05 / weight, abs=1e-12)  # 0.5 * (0 - 0.1), a loss that shrank
    assert by_team["a"]["change"] + by_team["b"]["change"] == pytest.approx(reasons["dataloader"]["change"], abs=1e-12)
    assert tree["families"]["data_io"] == pytest.approx(math.log(0.75 / 0.9), abs=1e-12)
    # GPU-hours beyond the baseline's rates on the same 100 paid minutes: faults 10 - 0, data loader 18 - 8, idle for
    # want of demand 18 - 20; together 100 x (0.72 - 0.54) = 18 minutes
    assert tree["excess_gpu_hours"] == pytest.approx(18 / 60, abs=1e-12)
    hours = tree["families_excess_gpu_hours"]
    assert (hours["hardware"], hours["data_io"], hours["demand"]) == pytest.approx((10 / 60, 10 / 60, -2 / 60))
    assert reasons["gpu_fault"]["excess_gpu_hours"] == pytest.approx(10 / 60, abs=1e-12)


def test_a_slice_that_lost_every_gpu_is_floored_not_an_error():
    # baseline: 100 paid, 10 idle, goodput 0.9; current: all 100 GPUs faulty, availability and goodput 0
    baseline = _window([_slice(100, 0, 10, 0, "a")])
    current = _window([_slice(100, 100, 0, 0, "a")])
    tree = explain(baseline, current, ("team",))
    assert tree["current_goodput"] == 0.0
    # availability 1 -> 0 is taken as 1 -> 1e-9: log change ln(1e-9) (the fault reason carries it all, because
    # L(1e-9, 1) weights the whole share of faulty time); the leaves still add up to the total
    assert tree["total_change"] == pytest.approx(_leaves(tree), abs=1e-9)
    assert min(tree["families"], key=tree["families"].get) == "hardware"
    assert tree["families"]["hardware"] == pytest.approx(-(1 - 1e-9) / ((1 - 1e-9) / -math.log(1e-9)), rel=1e-9)


def _leaves(tree: dict) -> float:
    return sum(r["change"] for f in tree["factors"] for r in f["reasons"])


@pytest.mark.parametrize(
    "where", [{}, {"region": ["eu-west"]}, {"team": ["research", "llm-core"]}, {"node_id": ["use-n000", "use-n001"]}]
)
def test_leaves_add_up_to_the_total_exactly(incidents_db_path, where):
    tree = explain_db(
        incidents_db_path,
        datetime(2026, 3, 2, 12),
        datetime(2026, 3, 2, 18),
        datetime(2026, 3, 2, 6),
        datetime(2026, 3, 2, 12),
        where,
    )
    assert abs(_leaves(tree) - tree["total_change"]) < 1e-9
    assert abs(sum(f["change"] for f in tree["factors"]) - tree["total_change"]) < 1e-9
    assert abs(sum(tree["families"].values()) - tree["total_change"]) < 1e-9
    # every GPU-minute lost sits in exactly one reason, so the GPU-hours add up to paid hours x the goodput drop
    assert sum(tree["families_excess_gpu_hours"].values()) == pytest.approx(tree["excess_gpu_hours"], abs=1e-6)
    for factor in tree["factors"]:
        for reason in factor["reasons"]:
            by_dimension: dict[str, float] = {}
            for piece in reason["top_slices"]:
                assert piece["change"] == pytest.approx(piece["mix"] + piece["rate"], abs=1e-12)
                by_dimension[piece["dimension"]] = by_dimension.get(piece["dimension"], 0.0) + piece["change"]


# Every incident kind of the library, on the small fleet: the injected family carries the largest loss among the
# fault families (or, for the kinds that are no fault, among all) against the hours just before, in the incident's
# scope (network_degradation passes since idle notebooks count as workload, not software; fragmentation since the
# night's idle GPUs count as demand, not as a fault). priority_change costs waiting, not GPU-time: it is judged by
# queue wait per class; a strict xfail, so that it starting to pass is noticed.
MISSED = {
    "priority_change": "no GPU-minute is lost in two hours: the reordered queue shows in waits and deadlines only",
    # us-east at 21:00 has 0-2 GPUs pending on the calibrated fleet: with no gang job waiting, the GPUs a spread
    # policy strands cost nothing (idle with demand fell). Fragmentation in a busy region is held by the sweep:
    # the library's fragmentation and spread-busy-morning name scheduling on both baselines.
    "fragmentation": "a quiet evening region: no job waits for the GPUs the spread policy strands",
}
KINDS = (
    "ecc_storm",  # every GPU of the node out: the zero availability is floored, not a log(0) error
    "thermal_throttle",  # the throttled node's idle GPUs are a thermal drain (hardware), not idle-with-demand
    "driver_regression",
    "framework_regression",
    "storage_slowdown",
    "network_degradation",
    "telemetry_gap",
    "dummy_workload",
    "scheduler_outage",
    "priority_change",
    "fragmentation",
    "maintenance",
)


@pytest.mark.parametrize(
    "kind",
    [pytest.param(k, marks=pytest.mark.xfail(strict=True, reason=MISSED[k])) if k in MISSED else k for k in KINDS],
)
def test_the_injected_family_carries_the_incident(incidents_db_path, truth, kind):
    incident = next(i for i in truth if i["kind"] == kind)
    start = datetime.fromisoformat(incident["start_at"].rstrip("Z"))
    end = datetime.fromisoformat(incident["end_at"].rstrip("Z"))
    scope, where = incident["scope"], {}
    if scope.get("team"):
        where["team"] = [scope["team"]]
    if scope.get("nodes"):
        where["node_id"] = scope["nodes"]
    elif scope.get("region"):
        where["region"] = [scope["region"]]
    baseline = (max(datetime(2026, 3, 2), start - (end - start)), start)
    tree = explain_db(incidents_db_path, start, end, *baseline, where)
    if incident["family"] in FAULT_FAMILIES:  # what broke, apart from how the GPUs were used
        assert (tree["largest_fault_family"] or {}).get("family") == incident["family"]
    else:  # telemetry, gaming, planned: not faults, but still what moved most
        assert min(tree["families"], key=tree["families"].get) == incident["family"]


def test_the_command_line_in_every_format(incidents_db_path, tmp_path, capsys):
    window = ["--from", "2026-03-02T08:00:00Z", "--to", "2026-03-02T10:00:00Z"]
    baseline = ["--baseline-from", "2026-03-02T06:00:00Z", "--baseline-to", "2026-03-02T08:00:00Z"]
    common = ["explain", "--db", str(incidents_db_path), *window, *baseline, "--where", "region=eu-west"]
    assert main([*common, "--format", "json"]) == 0
    tree = json.loads(capsys.readouterr().out)
    assert set(tree) >= {"total_change", "factors", "families", "windows"}
    assert all({"change", "reasons"} <= set(f) for f in tree["factors"])
    assert all({"family", "change", "top_slices"} <= set(r) for f in tree["factors"] for r in f["reasons"])
    assert main([*common, "--format", "table"]) == 0
    table = capsys.readouterr().out
    assert "step_efficiency" in table and "GPU-hours lost beyond the baseline's rates" in table
    assert main([*common, "--format", "html", "--out", str(tmp_path / "e.html")]) == 0
    page = (tmp_path / "e.html").read_text()
    assert "waterfall" in page and "sunburst" in page
    assert main(["explain", "--db", str(incidents_db_path), "--where", "colour=red"]) == 2
    assert "unknown dimension colour" in capsys.readouterr().err
    late = ["--from", "2030-01-01T00:00:00Z", "--to", "2030-01-02T00:00:00Z"]
    assert main(["explain", "--db", str(incidents_db_path), *late]) == 2


def test_defaults_compare_the_last_day_with_the_week_before(incidents_db_path):
    tree = explain_db(incidents_db_path)
    current, baseline = tree["windows"]["current"], tree["windows"]["baseline"]
    assert datetime.fromisoformat(current[1]) - datetime.fromisoformat(current[0]) <= timedelta(hours=24)
    assert baseline[1] == current[0]


@pytest.mark.parametrize(
    ("mode", "baseline"),
    [
        ("before", ("2026-03-02T10:00:00", "2026-03-02T10:30:00")),  # as long, just before
        ("week", ("2026-03-02T10:00:00", "2026-03-02T10:30:00")),  # the 7 days before, cut to the data
    ],
)
def test_the_baselines_on_call_asks_for(tiny_db, mode, baseline):
    """The tiny fleet's data spans 10:00 to 11:00 on 2026-03-02: the window 10:30-11:00 against each baseline."""
    from pipelines.explain.windows import resolve

    current, found = resolve(tiny_db, datetime(2026, 3, 2, 10, 30), datetime(2026, 3, 2, 11), None, None, mode)
    assert current == (datetime(2026, 3, 2, 10, 30), datetime(2026, 3, 2, 11))
    assert found == tuple(datetime.fromisoformat(b) for b in baseline)


def test_yesterday_on_the_datas_first_day_says_there_is_nothing_to_compare_with(tiny_db):
    """The same half hour a day earlier lies before the tiny fleet's data: a clear error naming that window and the
    baseline that works, not a tree over nothing (it used to fail later on "no paid GPU time")."""
    from pipelines.explain.windows import resolve

    with pytest.raises(ExplainError) as error:
        resolve(tiny_db, datetime(2026, 3, 2, 10, 30), datetime(2026, 3, 2, 11), None, None, "yesterday")
    message = str(error.value)
    assert "baseline window (2026-03-01 10:30:00 to 2026-03-01 11:00:00) is outside the data" in message
    assert "--baseline before" in message
