"""One table of loss reasons: every loss column has one factor and one family, and detection, `explain` and the
reports read the same table, so a loss has the same family in an alert as in `explain`."""

import polars as pl
import pytest

from pipelines.detect.signals import LOSS_FAMILIES
from pipelines.explain.decompose import MEASURES, REASONS, _largest_fault, explain
from pipelines.semantic.losses import FAULT_FAMILIES, family_of
from pipelines.semantic.losses import REASONS as LOSS_REASONS

TOTAL_OF_PARTS = "loss_after_checkpoint_gpu_min"  # the sum of the loss_failed_<family> columns, not a reason


def test_every_loss_column_of_the_rollups_is_one_reason(tiny_db):
    columns = [r[0] for r in tiny_db.execute("describe marts.fct_goodput__5min").fetchall()]
    losses = sorted(c for c in columns if c.startswith("loss_") and c != TOTAL_OF_PARTS)
    assert sorted(r.column for r in LOSS_REASONS) == losses


@pytest.mark.parametrize(
    ("reason", "family"),
    [
        ("held_idle", "workload"),  # a notebook holding GPUs idle is how a team uses them, not a fault
        ("lost_after_failure_user", "workload"),  # user code and user cancellations
        ("no_demand", "demand"),
        ("maintenance", "planned"),
        ("compute_slow", "software"),
        ("lost_after_failure_hardware", "hardware"),  # lost work goes to the failure's cause, not to software
    ],
)
def test_reasons_that_are_not_faults_have_families_of_their_own(reason, family):
    assert family_of(reason) == family
    assert (family in FAULT_FAMILIES) == (family not in ("workload", "demand", "planned"))


def test_detection_and_explain_read_the_same_families():
    by_column = {column: family for _, family, column in REASONS.values()}
    for family, columns in LOSS_FAMILIES.items():
        assert all(by_column[c] == family for c in columns), family
    assert TOTAL_OF_PARTS not in LOSS_FAMILIES["software"]
    assert "loss_failed_hardware_gpu_min" in LOSS_FAMILIES["hardware"]
    assert "loss_held_idle_gpu_min" in LOSS_FAMILIES["workload"]


def _window(**losses: float) -> pl.DataFrame:
    row = {m: 0.0 for m in MEASURES} | {"region": "r1"}
    row |= {"paid_gpu_min": 100.0, "healthy_gpu_min": 100.0, "allocated_gpu_min": 100.0, "retained_gpu_min": 100.0}
    row |= {f"loss_{k}_gpu_min": v for k, v in losses.items()}
    row["productive_gpu_min"] = 100.0 - sum(losses.values())
    return pl.DataFrame([row])


def test_a_slower_framework_is_not_hidden_by_fewer_idle_notebooks():
    """Baseline: 20 of 100 retained GPU-minutes held idle. Current: 10 held idle and 10 lost to slower compute, so
    goodput stays at 0.8. Step efficiency 0.8 both times, so L = 0.8: software -0.10 / 0.8 = -0.125 in log goodput,
    workload +0.125, and the largest fault family is software, though the total did not move."""
    tree = explain(_window(held_idle=20.0), _window(held_idle=10.0, compute_slow=10.0), dimensions=("region",))
    assert tree["total_change"] == pytest.approx(0.0, abs=1e-12)
    assert tree["fault_families"]["software"] == pytest.approx(-0.125)
    assert tree["other_families"]["workload"] == pytest.approx(0.125)
    worst = tree["largest_fault_family"]
    assert worst["family"] == "software" and worst["change"] == pytest.approx(-0.125)
    assert worst["excess_gpu_hours"] == pytest.approx(10.0 / 60)  # 10 GPU-minutes beyond a baseline rate of 0


def test_no_fault_family_lost_anything_names_none():
    tree = explain(_window(held_idle=10.0), _window(held_idle=20.0), dimensions=("region",))
    assert tree["largest_fault_family"] is None and tree["other_families"]["workload"] < 0


def test_a_rounding_error_is_not_a_largest_fault():
    """Seen on a window where goodput rose: network summed to -1.1e-18 with 4e-15 GPU-hours, and was named the
    largest fault family; a real loss of one GPU-minute in 10,000 (-1e-4) still is."""
    rounding = {"network": -1.1e-18, "hardware": 0.0, "scheduling": 0.024, "workload": -0.3}
    assert _largest_fault(rounding, {f: 0.0 for f in rounding}) is None
    real = rounding | {"data_io": -1e-4}
    assert _largest_fault(real, {f: 1.0 for f in real})["family"] == "data_io"
