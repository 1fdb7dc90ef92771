"""The simulated fleet looks like a real one, is deterministic, and each incident moves its own signals only."""

import filecmp
from datetime import datetime

import numpy as np
import pytest

from pipelines.simulate.fleet import build_fleet
from pipelines.simulate.run import simulate
from pipelines.simulate.scenario import FleetSpec, scenario_from_dict
from pipelines.simulate.shape import trace_shape
from pipelines.simulate.workload import job_days

WINDOW_FMT = "%Y-%m-%dT%H:%M:%S"


def window(truth, kind):
    entry = next(t for t in truth if t["kind"] == kind)
    return (
        datetime.strptime(entry["start_at"][:19], WINDOW_FMT),
        datetime.strptime(entry["end_at"][:19], WINDOW_FMT),
        entry["scope"],
    )


# --- realism -----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def medium_shape(tmp_path_factory):
    """A 240-GPU fleet over two days: big enough for multi-node jobs, small enough for CI."""
    scenario = scenario_from_dict(
        {"name": "shape", "seed": 3, "start": "2026-03-03T00:00:00Z", "days": 2, "fleet": {"gpus": 240, "nodes": 16}}
    )
    out = tmp_path_factory.mktemp("medium")
    simulate(scenario, out, progress=False)
    return trace_shape(out)


def test_median_job_runs_minutes_while_the_mean_runs_much_longer(medium_shape):
    assert 60 <= medium_shape["runtime_median_s"] <= 600  # Helios 206 s, Philly 874 s
    assert medium_shape["runtime_mean_s"] >= 3 * medium_shape["runtime_median_s"]  # heavy tail


def test_most_jobs_take_one_gpu_while_multi_node_jobs_take_a_large_share_of_gpu_time(medium_shape):
    assert medium_shape["single_gpu_job_share"] >= 0.7
    assert medium_shape["multi_node_gpu_time_share"] >= 0.2


def test_a_fifth_to_a_third_of_jobs_fail_or_are_cancelled(medium_shape):
    assert 0.15 <= medium_shape["failed_or_cancelled_share"] <= 0.40


def test_queueing_is_usually_near_zero_with_a_long_tail(medium_shape):
    assert medium_shape["queue_median_s"] <= 90
    assert medium_shape["queue_mean_s"] >= 2 * medium_shape["queue_median_s"]
    assert medium_shape["queue_mean_s"] <= 1_949  # the largest Helios cluster's mean wait


def test_demand_scales_each_regions_jobs_and_leaves_the_others_alone():
    fleet = build_fleet(FleetSpec(gpus=1200, nodes=80, regions=["us-east", "eu-west"]))

    def per_region(demand):
        jobs = next(job_days(fleet, 0, 1, np.random.default_rng(9), demand))
        return np.bincount(jobs.region, minlength=2)

    calibrated, busy_east, all_busier = per_region(None), per_region([1.5, 1.0]), per_region([2.0, 2.0])
    assert abs(busy_east[0] / calibrated[0] - 1.5) < 0.05
    assert abs(busy_east[1] / calibrated[1] - 1.0) < 0.05
    assert abs(all_busier.sum() / calibrated.sum() - 2.0) < 0.05
    assert (per_region([1.0, 1.0]) == calibrated).all()  # the default draws the same jobs


@pytest.mark.parametrize("gpus, nodes", [(1200, 80), (480, 32)])
def test_weekday_demand_leaves_headroom_so_the_queue_drains_overnight(gpus, nodes):
    """The GPU-minutes jobs ask for on a weekday, against the fleet's: a fleet asked for more than it can place
    (gang jobs need whole nodes) grows its backlog from day to day, and every free GPU reads as idle with demand."""
    fleet = build_fleet(FleetSpec(gpus=gpus, nodes=nodes))
    loads = []
    for day, jobs in enumerate(job_days(fleet, 0, 28, np.random.default_rng(5))):
        if day % 7 < 5:
            work = jobs.work_min * np.where(jobs.fate == 0, 1.0, jobs.fate_frac)
            loads.append((jobs.gpus * work).sum() / (fleet.n_gpus * 1440))
    assert 0.6 <= np.mean(loads) <= 0.85


def test_job_volume_scales_to_about_35000_a_day_at_1200_gpus(sql):
    # 96 GPUs is 8% of the default fleet: about 2,800 jobs a day
    (jobs,) = sql("select count(*) from job_metadata where submitted_at >= '2026-03-02'")[0]
    assert 2000 <= jobs <= 3600


def test_weekday_retrain_surge_has_deadlines(sql):
    rows = sql(
        "select hour(submitted_at) as h, count(*) from job_metadata where workload_class = 'retrain' "
        "and submitted_at >= '2026-03-02' group by 1"
    )
    assert rows and all(2 <= h < 8 for h, _ in rows)
    assert sql("select count(*) from job_metadata where workload_class = 'retrain' and deadline_at is null")[0][0] == 0


# --- the scheduler drives the telemetry ---------------------------------------------------------------------------

PLACEMENTS = """
with s as (select job_id, attempt, event_at, gpu_ids from scheduler_events where event_type = 'started'),
e as (select job_id, attempt, event_at from scheduler_events where event_type = 'ended'),
p as (select unnest(string_split(s.gpu_ids, ',')) as gpu_id, s.event_at as start_at,
             coalesce(e.event_at, timestamp '2100-01-01') as end_at
      from s left join e using (job_id, attempt))
"""


def test_gpus_show_work_only_where_a_job_runs(sql):
    busy_without_job = sql(
        PLACEMENTS
        + """
        select count(*) from gpu_telemetry g
        where g.gpu_util_pct > 5
          and not exists (select 1 from p where p.gpu_id = g.gpu_id and g.ts >= p.start_at and g.ts < p.end_at)"""
    )
    busy = sql("select count(*) from gpu_telemetry where gpu_util_pct > 5")[0][0]
    assert busy > 10_000
    assert busy_without_job[0][0] == 0


def test_no_gpu_holds_two_jobs_at_once(sql):
    overlaps = sql(
        PLACEMENTS
        + """
        select count(*) from p a join p b on a.gpu_id = b.gpu_id and a.start_at < b.end_at and b.start_at < a.end_at
        and (a.start_at, a.end_at) <> (b.start_at, b.end_at)"""
    )
    assert overlaps[0][0] == 0


def test_failed_attempts_requeue_and_lose_work_since_the_last_checkpoint(sql):
    requeued = sql("select count(*) from scheduler_events where event_type = 'requeued'")[0][0]
    assert requeued > 0
    # a resumed attempt restarts from a checkpointed step, not from zero and not from where it died
    rows = sql("""
        with last_step as (select job_id, attempt, max(step) as step from job_runtime_metrics group by all),
        first_step as (select job_id, attempt, min(step - steps) filter (where steps > 0) as step
                       from job_runtime_metrics group by all)
        select l.step, f.step from last_step l join first_step f
          on f.job_id = l.job_id and f.attempt = l.attempt + 1
        where f.step is not null""")
    assert rows
    assert all(resumed <= died + 1 for died, resumed in rows)  # the counter resumes at a checkpointed step


def test_step_time_splits_into_its_parts(sql):
    (bad,) = sql("""select count(*) from job_runtime_metrics where step_time_s is not null
        and abs(compute_s + dataloader_wait_s + grad_sync_s - step_time_s) > 1e-3""")[0]
    assert bad == 0


def test_the_first_hours_look_like_steady_state(sql):
    # warm-up: at the first minute GPUs are already busy and long jobs started before the scenario
    (busy_share,) = sql("select avg((gpu_util_pct > 0)::int) from gpu_telemetry where ts = '2026-03-02 00:00:00'")[0]
    assert busy_share > 0.1  # a Monday just after midnight: quiet, but not an empty cluster
    (early,) = sql("select count(*) from scheduler_events where event_type = 'started' and event_at < '2026-03-02'")[0]
    assert early > 0


# --- incidents: their signals, in their scope and window only -----------------------------------------------------


def _inside_outside(sql, truth, kind, query):
    """The metric over the incident's nodes in its window, and over the same nodes in the hours before."""
    begin, end, scope = window(truth, kind)
    nodes = scope["nodes"]
    inside = sql(
        query.format(where="node_id in (select unnest($nodes)) and ts >= $b and ts < $e"),
        {"nodes": nodes, "b": begin, "e": end},
    )[0][0]
    outside = sql(query.format(where="node_id in (select unnest($nodes)) and ts < $b"), {"nodes": nodes, "b": begin})
    return inside, outside[0][0]


def test_ecc_storm_raises_ecc_and_xid_on_its_nodes(sql, truth):
    inside, outside = _inside_outside(
        sql, truth, "ecc_storm", "select avg(ecc_corrected_count) from gpu_telemetry where {where}"
    )
    assert inside > 1 and outside < 0.01
    begin, end, scope = window(truth, "ecc_storm")
    other = sql(
        "select avg(ecc_corrected_count) from gpu_telemetry where node_id not in (select unnest($n)) "
        "and ts >= $b and ts < $e",
        {"n": scope["nodes"], "b": begin, "e": end},
    )[0][0]
    assert other < 0.01


def test_the_first_uncorrectable_error_drains_the_storm_node_until_it_is_reset(sql, truth):
    begin, end, scope = window(truth, "ecc_storm")
    node = scope["nodes"][0]
    (tripped,) = sql(
        "select min(ts) from gpu_telemetry where node_id = $n and xid = 48 and ts >= $b", {"n": node, "b": begin}
    )[0]
    assert begin <= tripped < end
    # before it the node is degraded (correctable errors only); from it, down through the storm and the reset
    before = sql(
        "select distinct health from node_telemetry where node_id = $n and ts >= $b and ts < $t",
        {"n": node, "b": begin, "t": tripped},
    )
    assert before in ([], [("degraded",)])
    down = sql(
        "select distinct health from node_telemetry where node_id = $n and ts >= $t "
        "and ts < $e::timestamp + interval 30 minute",
        {"n": node, "t": tripped, "e": end},
    )
    assert down == [("down",)]
    # its jobs died at the error and nothing was placed on it while it was down
    busy = sql(
        "select count(*) from gpu_telemetry where node_id = $n and ts > $t and ts < $e and gpu_util_pct > 0",
        {"n": node, "t": tripped, "e": end},
    )
    assert busy == [(0,)]


def test_thermal_throttle_heats_and_slows_its_rack(sql, truth):
    inside, outside = _inside_outside(
        sql, truth, "thermal_throttle", "select avg(temp_c) from gpu_telemetry where gpu_util_pct > 0 and {where}"
    )
    assert inside > outside + 10
    throttled, _ = _inside_outside(
        sql,
        truth,
        "thermal_throttle",
        "select avg(((throttle_reasons & 32) > 0)::int) from gpu_telemetry where {where}",
    )
    assert throttled == 1.0


def test_storage_slowdown_is_the_war_room_cascade(sql, truth):
    begin, end, scope = window(truth, "storage_slowdown")
    region_nodes = [
        r[0] for r in sql("select distinct node_id from inventory where region = $r", {"r": scope["region"]})
    ]
    truth_nodes = set(scope["nodes"])
    assert truth_nodes == set(region_nodes)
    lat_in, lat_out = _inside_outside(
        sql, truth, "storage_slowdown", "select avg(storage_latency_p99_ms) from node_telemetry where {where}"
    )
    assert lat_in > 3 * lat_out
    ecn_in, ecn_out = _inside_outside(
        sql, truth, "storage_slowdown", "select avg(ecn_marks_count) from network_telemetry where {where}"
    )
    assert ecn_in > 1.5 * ecn_out
    dl_in, dl_out = _inside_outside(
        sql,
        truth,
        "storage_slowdown",
        "select sum(dataloader_wait_s * steps) / sum(step_time_s * steps) from job_runtime_metrics where {where}",
    )
    assert dl_in > 2 * dl_out


def test_network_degradation_raises_retransmits_and_sync(sql, truth):
    rx_in, rx_out = _inside_outside(
        sql, truth, "network_degradation", "select avg(retransmits_count) from network_telemetry where {where}"
    )
    assert rx_in > 5 * rx_out


def test_telemetry_gap_drops_rows_instead_of_reporting_idle(sql, truth):
    begin, end, scope = window(truth, "telemetry_gap")
    params = {"n": scope["nodes"], "b": begin, "e": end}
    in_gap = sql(
        "select count(*) from gpu_telemetry where node_id in (select unnest($n)) and ts >= $b and ts < $e", params
    )[0][0]
    assert in_gap == 0
    nodes_in_gap = sql(
        "select count(*) from node_telemetry where node_id in (select unnest($n)) and ts >= $b and ts < $e", params
    )[0][0]
    assert nodes_in_gap == 0
    others = sql(
        "select count(*) from gpu_telemetry where node_id not in (select unnest($n)) and ts >= $b and ts < $e", params
    )[0][0]
    assert others > 0


def test_dummy_workload_keeps_gpus_busy_without_progress(sql, truth):
    # the team's jobs that claim to train, hold GPUs through the window and never report a step
    begin, end, scope = window(truth, "dummy_workload")
    rows = sql(
        """
        with candidates as (
            select m.job_id, s.gpu_ids, s.event_at as started_at, coalesce(e.event_at, $e) as ended_at
            from job_metadata m
            join scheduler_events s on s.job_id = m.job_id and s.event_type = 'started'
            left join scheduler_events e on e.job_id = s.job_id and e.attempt = s.attempt and e.event_type = 'ended'
            where m.team = $team and m.reports_steps and m.submitted_at >= $b
              and m.submitted_at < $b + interval 20 minute
              and m.job_id not in (select job_id from job_runtime_metrics)),
        busy as (
            select c.job_id, avg(g.gpu_util_pct) as util, count(*) as gpu_minutes from gpu_telemetry g, candidates c
            where list_contains(string_split(c.gpu_ids, ','), g.gpu_id) and g.ts >= c.started_at
              and g.ts < c.ended_at
            group by c.job_id)
        select count(*), min(util), min(gpu_minutes) from busy""",
        {"team": scope["team"], "b": begin, "e": end},
    )
    jobs, util, gpu_minutes = rows[0]
    assert jobs >= 1 and util > 90 and gpu_minutes > 60  # hours at full utilisation, zero steps


def test_driver_regression_ships_a_change_and_crashes_jobs_on_its_nodes(sql, truth):
    begin, end, scope = window(truth, "driver_regression")
    changes = sql(
        "select change_type, to_version from change_events where changed_at = $b and scope_node_ids = $n",
        {"b": begin, "n": ",".join(scope["nodes"])},
    )
    assert ("driver_upgrade", "560.28.03") in changes
    crashes = sql(
        "select count(*) from scheduler_events where event_type = 'ended' and reason like 'Xid 13%' "
        "and event_at >= $b and event_at <= $e",
        {"b": begin, "e": end},
    )[0][0]
    assert crashes > 0
    outside = sql(
        "select count(*) from scheduler_events where reason like 'Xid 13%' and (event_at < $b or event_at > $e)",
        {"b": begin, "e": end},
    )[0][0]
    assert outside == 0
    versions = sql(
        "select distinct driver_version from node_telemetry where node_id in (select unnest($n)) "
        "and ts >= $b and ts < $e",
        {"n": scope["nodes"], "b": begin, "e": end},
    )
    assert versions == [("560.28.03",)]


def test_framework_regression_slows_the_new_image_only(sql, truth):
    rows = sql(
        """select i.sku, r.framework_version = 'torch-2.5.0' as bad, sum(compute_s * steps) / sum(steps)
                  from job_runtime_metrics r
                  join job_metadata m using (job_id)
                  join (select distinct node_id, sku from inventory) i on i.node_id = r.node_id
                  where m.model_type = $model and r.steps > 0 group by all""",
        {"model": "resnet50"},
    )
    by_version = {(sku, bad): compute for sku, bad, compute in rows}
    compared = [sku for sku, bad in by_version if bad and (sku, False) in by_version]
    assert compared
    for sku in compared:
        assert by_version[sku, True] > 1.2 * by_version[sku, False]


def test_scheduler_outage_starts_nothing_in_its_region(sql, truth):
    begin, end, scope = window(truth, "scheduler_outage")
    started = sql(
        """select count(*) from scheduler_events s join inventory i
                     on i.node_id = split_part(s.node_ids, ',', 1)
                     where s.event_type = 'started' and i.region = $r and s.event_at >= $b and s.event_at < $e""",
        {"r": scope["region"], "b": begin, "e": end},
    )[0][0]
    assert started == 0
    pending = sql("select count(*) from scheduler_events where reason = 'SchedulerDown'")[0][0]
    assert pending > 0


def test_scheduling_changes_are_recorded_as_change_events(sql, truth):
    for kind in ("priority_change", "fragmentation"):
        begin, _, _ = window(truth, kind)
        kinds = [r[0] for r in sql("select change_type from change_events where changed_at = $b", {"b": begin})]
        assert "scheduler_policy" in kinds


def test_a_priority_change_shows_in_the_priority_the_scheduler_reports(sql, truth):
    """Batch of the changed team: 20 before the change, 70 (60 + 10 x magnitude 1) while it holds, on every event;
    other teams' batch and other classes keep theirs."""
    begin, end, scope = window(truth, "priority_change")
    rows = sql(
        """select m.workload_class, m.team = $t, e.event_at >= $b and e.event_at < $e, list_distinct(list(e.priority))
           from scheduler_events e join job_metadata m using (job_id) group by all""",
        {"t": scope["team"], "b": begin, "e": end},
    )
    seen = {(cls, team, inside): sorted(p) for cls, team, inside, p in rows}
    assert seen[("batch", True, True)] == [70]
    assert seen[("batch", True, False)] == [20]
    assert seen[("batch", False, True)] == [20]
    assert seen[("interactive", False, True)] == [50]


def test_maintenance_drains_its_nodes(sql, truth):
    begin, end, scope = window(truth, "maintenance")
    busy = sql(
        "select count(*) from gpu_telemetry where node_id in (select unnest($n)) and ts >= $b and ts < $e "
        "and gpu_util_pct > 0",
        {"n": scope["nodes"], "b": begin, "e": end},
    )[0][0]
    assert busy == 0
    windows = sql("select scope_node_ids from maintenance_windows")
    assert windows == [(",".join(scope["nodes"]),)]


def test_benign_changes_outnumber_harmful_ones(sql):
    (total,) = sql("select count(*) from change_events")[0]
    assert total >= 20  # most changes are harmless: a change alone is never evidence


# --- truth and determinism ----------------------------------------------------------------------------------------


def test_truth_lists_every_incident_with_family_scope_and_paging(truth, all_incidents_scenario):
    incidents = [t for t in truth if t["incident_id"].startswith("inc-")]
    assert len(incidents) == len(all_incidents_scenario.incidents)
    for entry in truth:
        fields = {"incident_id", "kind", "family", "start_at", "end_at", "scope", "should_page"}
        # a dummy workload also names its jobs, so anti-gaming flags can be scored job by job
        assert set(entry) == fields | ({"job_ids"} if entry["kind"] == "dummy_workload" else set())
        assert entry["start_at"].endswith("Z") and entry["end_at"] > entry["start_at"]
        assert entry["should_page"] == (entry["family"] in {"hardware", "software", "scheduling", "data_io", "network"})
    assert {t["family"] for t in truth} >= {"planned", "seasonal", "gaming", "telemetry"}


def test_truth_parquet_matches_json(landing, truth):
    import pyarrow.parquet as pq

    table = pq.read_table(landing / "_truth" / "incidents.parquet").to_pylist()
    assert [r["incident_id"] for r in table] == [t["incident_id"] for t in truth]


def test_same_scenario_and_seed_give_byte_identical_parquet(tmp_path):
    scenario = scenario_from_dict(
        {
            "name": "det",
            "seed": 9,
            "start": "2026-03-05T00:00:00Z",
            "days": 1,
            "fleet": {"gpus": 48, "nodes": 4},
            "incidents": [{"kind": "storage_slowdown", "start": "+3h", "duration": "2h"}],
        }
    )
    simulate(scenario, tmp_path / "a", progress=False)
    simulate(scenario, tmp_path / "b", progress=False)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len(files) >= 11
    _, mismatch, errors = filecmp.cmpfiles(tmp_path / "a", tmp_path / "b", [str(f) for f in files], shallow=False)
    assert mismatch == [] and errors == []
    other = scenario.model_copy(update={"seed": 10})
    simulate(other, tmp_path / "c", progress=False)
    telemetry = next(f for f in files if str(f).startswith("gpu_telemetry"))
    assert not filecmp.cmp(tmp_path / "a" / telemetry, tmp_path / "c" / telemetry, shallow=False)
