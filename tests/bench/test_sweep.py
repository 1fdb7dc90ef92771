"""The sweep's totals and table on hand-made results: what counts as paged in time, right, explained, and a window
whose goodput did not fall."""

from datetime import datetime, timedelta

from bench.sweep import markdown, totals


def _incident(kind, family, latency, alert_family, explained="not explained", goodput=None):
    entry = {
        "kind": kind,
        "family": family,
        "detected": latency is not None,
        "latency_min": latency,
        "alert_family": alert_family,
        "family_match": alert_family == family,
    }
    if explained != "not explained":
        entry["explain_scope"] = {}
        for baseline in ("yesterday", "before"):
            entry[f"explain_{baseline}"] = explained
            entry[f"goodput_{baseline}"] = goodput
    return entry


RESULTS = [
    {
        "scenario": "a",
        "incidents": [
            _incident("ecc_storm", "hardware", 5.0, "hardware", "hardware", [0.8, 0.7]),
            _incident("fragmentation", "scheduling", 50.0, "scheduling", None, [0.70, 0.77]),
            _incident("dummy_workload", "gaming", 10.0, "gaming"),
        ],
        "false_pages": [],
        "unmatched_tickets": [{"alert_id": "t1"}],
    },
    {
        "scenario": "b",
        "incidents": [_incident("storage_slowdown", "data_io", None, None, "scheduling", [0.74, 0.47])],
        "false_pages": [{"alert_id": "p1"}],
        "unmatched_tickets": [],
    },
]


def test_totals_count_fault_incidents_only_and_a_window_whose_goodput_rose():
    found = totals(RESULTS)
    assert (found["fault_incidents"], found["paged"], found["within_15_min"], found["family_right"]) == (3, 2, 1, 2)
    assert (found["false_pages"], found["unmatched_tickets"], found["explained"]) == (1, 1, 3)
    assert found["explain_yesterday_right"] == 1  # hardware; fragmentation named none, storage scheduling
    assert found["explain_before_goodput_did_not_fall"] == 1  # fragmentation's 70 % -> 77 %


def test_the_table_shows_the_goodput_move_beside_each_explain():
    table = markdown(RESULTS)
    assert "| a | fragmentation | scheduling | 50 | scheduling | None (WRONG, goodput 70.0% -> 77.0%) |" in table
    assert "| b | storage_slowdown | data_io | no |" in table
    assert "tickets outside every incident: 1" in table


def test_a_baseline_the_data_does_not_hold_is_not_a_miss():
    """An incident on the data's first morning has no yesterday: counted apart, with the reason in the table."""
    first_day = _incident("storage_slowdown", "data_io", 5.0, "data_io", "data_io", [0.8, 0.6])
    del first_day["explain_yesterday"], first_day["goodput_yesterday"]
    first_day["explain_yesterday_error"] = "the baseline window (x to y) is outside the data"
    results = [{"scenario": "d", "incidents": [first_day], "false_pages": [], "unmatched_tickets": []}]
    found = totals(results)
    assert (found["explained"], found["explain_yesterday_right"], found["explain_yesterday_not_in_data"]) == (1, 0, 1)
    assert (found["explain_before_right"], found["explain_before_not_in_data"]) == (1, 0)
    assert "| n/a (the baseline window (x to y) is outside the data) | data_io (ok" in markdown(results)


def test_latency_from_the_first_evidence_and_its_total():
    from bench.sweep import _from_evidence

    incident = {"start_at": "2026-04-16T09:30:00Z"}
    row = {"latency_min": 50.0}
    late = _from_evidence(row, incident, datetime(2026, 4, 16, 10, 16))
    assert late == {"first_evidence_at": "2026-04-16T10:16:00", "latency_from_evidence_min": 4.0}
    assert _from_evidence(row, incident, None)["latency_from_evidence_min"] == 50.0
    spread = _incident("fragmentation", "scheduling", 50.0, "scheduling")
    results = [{"scenario": "c", "incidents": [{**spread, **late}], "false_pages": [], "unmatched_tickets": []}]
    found = totals(results)
    assert (found["within_15_min"], found["within_15_min_of_first_evidence"]) == (0, 1)
    assert "| c | fragmentation | scheduling | 50 (4 after the first evidence, 2026-04-16T10:16:00) |" in markdown(
        results
    )


def test_first_evidence_of_a_spread_policy_is_its_first_unpacked_placement():
    from bench.sweep import first_evidence
    from tests.detect.test_placement_spread import CHANGED_AT, _warehouse

    con = _warehouse(spread_from=30)  # packs for half an hour after the change, then spreads
    incident = {"kind": "fragmentation", "start_at": CHANGED_AT, "end_at": CHANGED_AT + timedelta(hours=1)}
    assert first_evidence(con, {**incident, "scope": {"region": "r1"}}) == CHANGED_AT + timedelta(minutes=30)
    assert first_evidence(con, {**incident, "scope": {"region": "r2"}}) is None


def test_first_evidence_of_a_framework_regression_is_its_first_worker_minute():
    from bench.sweep import first_evidence
    from tests.detect.test_framework_cohorts import CHANGED_AT, _warehouse

    con = _warehouse(slowdown=1.5)  # the new version's first worker-minute five minutes after the change
    incident = {"kind": "framework_regression", "start_at": CHANGED_AT, "end_at": CHANGED_AT + timedelta(hours=2)}
    assert first_evidence(con, {**incident, "scope": {"team": "llm"}}) == CHANGED_AT + timedelta(minutes=5)
    assert first_evidence(con, {**incident, "scope": {"team": "search"}}) is None
