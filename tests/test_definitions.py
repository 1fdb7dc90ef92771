"""The one code location loads, and every source is an asset with its reconciliation check."""

from dagster import AssetKey, Definitions

from pipelines.contracts import SOURCES
from pipelines.definitions import defs


def test_definitions_load():
    Definitions.validate_loadable(defs)


def test_every_source_is_a_raw_asset_with_a_reconciliation_check():
    graph = defs.resolve_asset_graph()
    keys = graph.get_all_asset_keys()
    for name in SOURCES:
        key = AssetKey(["raw", name])
        assert key in keys
        checks = (
            {c.name for c in graph.get_check_keys_for_assets([key])}
            if hasattr(graph, "get_check_keys_for_assets")
            else None
        )
        if checks is not None:
            assert "reconciles" in checks


def test_telemetry_depends_on_the_inventory_it_is_checked_against():
    graph = defs.resolve_asset_graph()
    parents = graph.get(AssetKey(["raw", "gpu_telemetry"])).parent_keys
    assert AssetKey(["raw", "inventory"]) in parents


def test_the_tick_is_scheduled_every_five_minutes_and_sensed_on_new_files():
    from pipelines.definitions import defs

    schedule = defs.get_schedule_def("every_five_minutes")
    assert schedule.cron_schedule == "*/5 * * * *"
    assert defs.get_sensor_def("new_landing_files").job_name == "tick_job"
    assert AssetKey(["alerts", "alerts"]) in defs.resolve_all_asset_keys()
