"""Node changes on hand-made health minutes: a driver rolled out to every node has no unchanged nodes to hold it
against, so its own nodes' day before is the baseline; faults at that day's rate do not fire."""

from datetime import datetime, timedelta

from pipelines.detect.cohorts import changes
from pipelines.detect.cohorts.deploys import node_cohort_hits
from pipelines.detect.config import detection_config
from tests.fixtures.blank_warehouse import blank_warehouse

CHANGED_AT = datetime(2026, 3, 3, 4, 0)
NODES = ["n0", "n1", "n2", "n3"]  # 8 GPUs each


def _warehouse(faults_after: int, scope: list[str], earlier: list[str] | None = None, faulty: list[str] | None = None):
    """A day of minutes before the change with a fault every 6 hours somewhere, then 30 minutes with
    `faults_after` software faults a minute on the `faulty` nodes (the changed ones unless given) from 2 minutes
    after it."""
    con = blank_warehouse()
    con.execute(
        "create table marts.fct_health__node_minutes (node_id varchar, minute_at timestamp, gpus_reporting integer, "
        "software_xid_gpus integer, software_failures integer, is_maintenance boolean)"
    )
    con.execute(
        """insert into marts.fct_health__node_minutes
        select node_id, $1::timestamp + to_minutes(m), 8,
            case when m < 0 and m % 360 = 0 and node_id = 'n0' then 1
                 when m >= 2 and list_contains($3, node_id) then $2 else 0 end,
            0, false
        from unnest($4::varchar[]) as t(node_id), range(-1440, 30) as r(m)""",
        [CHANGED_AT, faults_after, faulty or scope, NODES],
    )
    con.execute(
        "create table staging.stg_changes__events (change_id varchar, changed_at timestamp, change_type varchar, "
        "component varchar, from_version varchar, to_version varchar, scope_region varchar, scope_sku varchar, "
        "scope_team varchar, scope_node_ids varchar, description varchar)"
    )
    con.execute(
        "insert into staging.stg_changes__events values ('chg-1', ?, 'driver_upgrade', 'nvidia-driver', "
        "'550.127.05', '560.28.03', null, null, null, ?, 'driver rollout')",
        [CHANGED_AT, ",".join(scope)],
    )
    if earlier:  # an older upgrade of the same driver on some of the nodes, 3 hours before
        con.execute(
            "insert into staging.stg_changes__events values ('chg-0', ?, 'driver_upgrade', 'nvidia-driver', "
            "'550.127.05', '550.144.03', null, null, null, ?, 'driver upgrade')",
            [CHANGED_AT - timedelta(hours=3), ",".join(earlier)],
        )
    return con


def _hits(con):
    window = (CHANGED_AT, CHANGED_AT + timedelta(minutes=30))
    return node_cohort_hits(con, changes(con, window, 24), detection_config(), window)


def test_a_rollout_to_every_node_is_held_against_its_own_day_before():
    hits = _hits(_warehouse(faults_after=1, scope=NODES))
    # 4 faults in the day before over 4 x 8 x 1,440 GPU-minutes: (4 + 1) / 46,080 a GPU-minute, 0.0065 a GPU-hour;
    # after it a fault a minute on each node from minute 2: four, past min_events (3), in that minute.
    assert hits["minute_at"].min() == CHANGED_AT + timedelta(minutes=2)
    assert abs(hits["baseline"][0] - 5 / 46_080 * 60) < 1e-9


def test_a_rollout_to_every_node_at_the_old_fault_rate_does_not_fire():
    assert _hits(_warehouse(faults_after=0, scope=NODES)).is_empty()


def test_a_change_to_one_node_is_still_held_against_the_others():
    hits = _hits(_warehouse(faults_after=1, scope=["n1"]))
    # the rest: 3 nodes with no fault since the change, so (0 + 1) / their GPU-minutes
    first = hits.sort("minute_at").row(0, named=True)
    assert first["minute_at"] == CHANGED_AT + timedelta(minutes=4)  # 1 fault a minute from minute 2: 3 by minute 4
    assert abs(first["baseline"] - 1 / (3 * 8 * 5) * 60) < 1e-9


def test_a_newer_rollout_takes_the_blame_from_an_older_upgrade_of_the_same_nodes():
    # n1 got a driver upgrade 3 hours before the rollout to every node, and the rollout's faults fall on n1: they
    # are the rollout's (n1 no longer runs the older version), so only chg-1 fires (n1 against the quiet rest
    # would have blamed chg-0)
    hits = _hits(_warehouse(faults_after=2, scope=NODES, earlier=["n1"], faulty=["n1"]))
    assert set(hits["change_id"]) == {"chg-1"}
