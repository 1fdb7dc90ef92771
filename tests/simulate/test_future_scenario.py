"""A scenario that runs past now is refused with the date it could start on: the load quarantines rows from the
future, so it would land whole in quarantine (session 17: one dated tomorrow made the build blow up)."""

from datetime import UTC, datetime, timedelta

import pytest

from pipelines.simulate.run import refuse_the_future
from pipelines.simulate.scenario import ScenarioError, scenario_from_dict


def _scenario(start: datetime, days: int):
    return scenario_from_dict({"name": "s", "start": start.strftime("%Y-%m-%dT%H:%M:00Z"), "days": days})


def test_a_scenario_that_ends_after_now_is_refused_with_a_start_that_works():
    today = datetime.now(UTC).replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)
    with pytest.raises(ScenarioError) as error:
        refuse_the_future(_scenario(today, 2))
    assert "after now" in str(error.value)
    assert f"start it on or before {today - timedelta(days=2):%Y-%m-%d}" in str(error.value)


def test_a_scenario_that_ends_before_now_runs():
    today = datetime.now(UTC).replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)
    refuse_the_future(_scenario(today - timedelta(days=3), 2))  # no error
