"""Supporting KPIs on the hand-computed fleet (tests/fixtures/tiny_fleet.py)."""

import pytest

from pipelines.semantic.query import query


def test_failure_rates_split_infrastructure_from_users(tiny_db):
    # two attempts ended: A completed, B failed with CUDA out of memory (the user's)
    frame = query(["infra_failure_rate", "user_failure_rate"], grain="day", db=tiny_db)
    assert frame["infra_failure_rate"].to_list() == [0.0]
    assert frame["user_failure_rate"].to_list() == [0.5]


def test_queue_wait_quantiles_and_slo(tiny_db):
    # A, B and C each queued 30 s; D never started, so it has no wait yet
    frame = query(["queue_wait_p50_s", "queue_wait_p99_s", "queue_slo_attainment"], grain="day", db=tiny_db)
    assert frame["queue_wait_p50_s"].to_list() == [30.0]
    assert frame["queue_wait_p99_s"].to_list() == [30.0]
    assert frame["queue_slo_attainment"].to_list() == [1.0]


def test_step_time_regression_index_and_dataloader_share(tiny_db):
    # step-weighted: sum(steps x step time) = 5,376 s against sum(steps x reference 0.5 s) = 4,776 s;
    # data-loader wait 1,555.2 s of the 5,376 s
    frame = query(["step_time_regression_index", "dataloader_wait_share", "grad_sync_share"], grain="day", db=tiny_db)
    assert frame["step_time_regression_index"].to_list() == pytest.approx([5376 / 4776])
    assert frame["dataloader_wait_share"].to_list() == pytest.approx([1555.2 / 5376])
    assert frame["grad_sync_share"].to_list() == pytest.approx([0.0])


def test_idle_gpu_hours_with_demand(tiny_db):
    frame = query(["idle_with_demand_gpu_hours", "hardware_fault_rate"], grain="day", db=tiny_db)
    assert frame["idle_with_demand_gpu_hours"].to_list() == pytest.approx([60 / 60])
    assert frame["hardware_fault_rate"].to_list() == pytest.approx([1 / 240 * 60000])
