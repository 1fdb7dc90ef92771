"""The benchmark's references compute the same thing: the analyst's north star in pandas and its line-by-line
transcription into one DuckDB query agree on every (hour, team) of the small fleet, so the ratio between them measures
the engine and nothing else."""

import pytest

from bench.references import duckdb_north_star, pandas_north_star


def test_the_pandas_and_duckdb_references_agree_on_every_hour_and_team(landing):
    by_pandas = {
        (row.hour.to_pydatetime().replace(tzinfo=None), row.team): (row.productive, row.paid)
        for row in pandas_north_star(str(landing)).reset_index().itertuples()
    }
    by_duckdb = {
        (hour.replace(tzinfo=None), team): (productive, paid)
        for hour, team, productive, paid in duckdb_north_star(str(landing))
    }
    assert by_duckdb.keys() == by_pandas.keys()
    assert len(by_pandas) > 100  # a day of hours for several teams, not an empty join
    for key, (productive, paid) in by_pandas.items():
        assert by_duckdb[key][1] == paid
        assert by_duckdb[key][0] == pytest.approx(productive, abs=1e-6)
    assert sum(p for p, _ in by_pandas.values()) > 0
