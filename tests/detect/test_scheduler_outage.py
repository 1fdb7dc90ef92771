"""The scheduler-outage page on hand-made region minutes: a region that starts nothing while a waiting job would fit
in one node's free GPUs is down; one whose free GPUs are scraps too small for every waiting job is busy.
Session 17 found the second paged in a 64-GPU lab at night: 8-GPU jobs waited while 5-6 GPUs were free per node."""

from datetime import datetime, timedelta

import polars as pl
import pytest

from pipelines.detect.config import detection_config
from pipelines.detect.signals import outage_episodes
from tests.fixtures.blank_warehouse import blank_warehouse

HOUR_BEFORE = datetime(2026, 3, 2, 9)
SILENCE = datetime(2026, 3, 2, 10)


def _region_minutes(fits: bool) -> object:
    """An hour at 2 starts a minute, then 20 minutes with none while 5 jobs wait and 12 GPUs sit idle."""
    rows = [(HOUR_BEFORE + timedelta(minutes=m), 2, 5, 0.0, True) for m in range(60)]
    rows += [(SILENCE + timedelta(minutes=m), 0, 5, 12.0, fits) for m in range(20)]
    con = blank_warehouse("marts")
    con.execute(
        "create table marts.fct_scheduler__region_minutes (region varchar, minute_at timestamp, starts bigint, "
        "pending_jobs bigint, idle_with_demand_gpus double, a_waiting_job_fits boolean)"
    )
    con.executemany("insert into marts.fct_scheduler__region_minutes values ('r1', ?, ?, ?, ?, ?)", rows)
    return con


@pytest.mark.parametrize("fits", [True, False])
def test_an_outage_needs_a_waiting_job_that_fits(fits):
    found = outage_episodes(
        _region_minutes(fits), detection_config(), (HOUR_BEFORE, SILENCE + timedelta(minutes=20)), 0
    )
    if not fits:
        assert found.is_empty()
        return
    # 2 starts a minute before: 8 expected starts take 4 minutes, so the 5-minute floor decides; confirmed at 10:04,
    # paged at the next tick after it
    row = found.row(0, named=True)
    assert (row["started_at"], row["confirmed_at"], row["value"]) == (SILENCE, SILENCE + timedelta(minutes=4), 5.0)
    assert row["detected_at"] == SILENCE + timedelta(minutes=5)
    assert found.height == 1 and isinstance(found, pl.DataFrame)
