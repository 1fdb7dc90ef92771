"""The sweep's totals and table on hand-made results: what counts as paged in time, right, explained, and a window
whose goodput did not fall."""

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
