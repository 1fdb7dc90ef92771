"""A replay of more history than a week runs as consecutive ticks, so its memory follows a week: the same log."""

from datetime import timedelta

import polars as pl

from pipelines.detect import store
from pipelines.warehouse.connection import connect
from pipelines.warehouse.layout import working_path
from pipelines.warehouse.publish import clone


def _log(con) -> pl.DataFrame:
    return store.read_alerts(con).select("rule", "intent", "detected_at", "scope").sort(pl.all())


def test_a_replay_in_chunks_raises_the_alerts_of_the_whole_replay(tmp_path, incidents_db_path, monkeypatch):
    clone(incidents_db_path, tmp_path / "w.duckdb")
    with connect(working_path(tmp_path / "w.duckdb")) as con:
        store.detect(con)
        whole = _log(con)
        monkeypatch.setattr(store, "REPLAY_CHUNK", timedelta(hours=12))  # the library's two days: four ticks
        counts = store.detect(con)
        chunked = _log(con)
    assert counts["alerts"] == len(chunked) == len(whole) > 0
    assert chunked.equals(whole)  # every alert, its rule, intent, scope and detection minute
