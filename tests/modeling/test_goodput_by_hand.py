"""The north star on a fleet worked out by hand (tests/fixtures/tiny_fleet.py): every factor and every loss."""

import pytest

from pipelines.explain.decompose import DIMENSIONS
from pipelines.semantic.query import query
from tests.fixtures.factors import FACTORS, worst_identity_gap
from tests.fixtures.tiny_fleet import EXPECTED


def totals(con, table: str) -> dict[str, float]:
    columns = [c[0] for c in con.execute(f"describe {table}").fetchall() if c[0].endswith("_gpu_min")]
    row = con.execute(f"select {', '.join(f'sum({c})' for c in columns)} from {table}").fetchone()
    return dict(zip(columns, row, strict=True))


@pytest.mark.parametrize(
    "table",
    [
        "marts.fct_goodput__gpu_minutes",
        "marts.fct_goodput__5min",
        "marts.fct_goodput__hourly",
        "marts.fct_goodput__daily",
    ],
)
def test_every_measure_matches_the_hand_computation(tiny_db, table):
    got = totals(tiny_db, table)
    for measure, expected in EXPECTED.items():
        if measure in got:
            assert got[measure] == pytest.approx(expected, abs=1e-9), measure
    assert set(EXPECTED) - {"loss_failed_user_gpu_min"} <= set(got)


def test_goodput_and_its_factors(tiny_db):
    row = tiny_db.execute(
        "select paid_gpu_min, productive_gpu_min from marts.fct_goodput__daily where team = 't1' and node_id = 'n1'"
    ).fetchall()
    assert row  # per-slice rows exist
    goodput, availability, allocation, retention, efficiency = tiny_db.execute("""
        select sum(productive_gpu_min) / sum(paid_gpu_min), sum(healthy_gpu_min) / sum(paid_gpu_min),
               sum(allocated_gpu_min) / sum(healthy_gpu_min), sum(retained_gpu_min) / sum(allocated_gpu_min),
               sum(productive_gpu_min) / sum(retained_gpu_min)
        from marts.fct_goodput__daily""").fetchone()
    assert goodput == pytest.approx(81.1 / 240)
    assert availability == pytest.approx(219 / 240)
    assert allocation == pytest.approx(139 / 219)
    assert retention == pytest.approx(129 / 139)
    assert efficiency == pytest.approx(81.1 / 129)


@pytest.mark.parametrize("grain", ["5min", "hour", "day"])
def test_the_factors_multiply_to_goodput_in_every_slice(tiny_db, grain):
    """The rollups store sums; the semantic layer divides them, per slice of every dimension at each grain."""
    frame = query(FACTORS, by=list(DIMENSIONS), grain=grain, db=tiny_db)
    assert len(frame) > 1 and worst_identity_gap(frame) < 1e-12


def test_loss_reasons_add_up_to_each_factor_loss(tiny_db):
    worst = tiny_db.execute("""
        select
            max(abs(paid_gpu_min - healthy_gpu_min - loss_maintenance_gpu_min - loss_gpu_fault_gpu_min
                    - loss_unobserved_gpu_min)),
            max(abs(healthy_gpu_min - allocated_gpu_min - loss_idle_with_demand_gpu_min - loss_no_demand_gpu_min)),
            max(abs(allocated_gpu_min - retained_gpu_min - loss_after_checkpoint_gpu_min - loss_startup_gpu_min)),
            max(abs(retained_gpu_min - productive_gpu_min - loss_checkpoint_overhead_gpu_min - loss_checkpoint_gpu_min
                    - loss_dataloader_gpu_min
                    - loss_grad_sync_gpu_min - loss_compute_throttled_gpu_min - loss_compute_slow_gpu_min
                    - loss_other_gpu_min - loss_held_idle_gpu_min - loss_telemetry_gap_gpu_min
                    - loss_no_progress_gpu_min - loss_stalled_gpu_min))
        from marts.fct_goodput__gpu_minutes""").fetchone()
    assert max(worst) < 1e-9


def test_a_failed_attempt_loses_only_the_work_after_its_checkpoint(tiny_db):
    lost = tiny_db.execute("""select min(minute_at)::varchar, max(minute_at)::varchar, count(*) from
        marts.fct_goodput__gpu_minutes where loss_after_checkpoint_gpu_min > 0""").fetchone()
    assert lost == ("2026-03-02 10:20:00", "2026-03-02 10:29:00", 10)
