"""The busy-without-progress signal, worked by hand: GPUs that spin (SMs busy, tensor pipes idle) under a job that
has not reported a step by that minute, per team and minute."""

from datetime import datetime, timedelta

from pipelines.detect.gaming import busy_without_progress
from tests.fixtures.blank_warehouse import blank_warehouse

T0 = datetime(2026, 3, 2, 10, 0)


def _warehouse():
    """Jobs J1 (team a, 2 GPUs) and J2 (team b, 1 GPU) spin 10:00-10:03; J2 reports its first step at 10:02, J3
    (team a) holds a GPU that works (tensor pipes busy). g9 spins but no job holds it."""
    con = blank_warehouse()
    con.execute(
        "create table staging.stg_gpu_telemetry__minutes (gpu_id varchar, minute_at timestamp, "
        "sm_active_pct double, tensor_active_pct double)"
    )
    con.execute(
        "create table intermediate.int_gpu_minutes__allocation (gpu_id varchar, minute_at timestamp, "
        "job_id varchar, attempt integer)"
    )
    con.execute("create table staging.stg_jobs__submissions (job_id varchar, team varchar)")
    con.execute(
        "create table intermediate.int_jobs__attempt_progress (job_id varchar, attempt integer, "
        "first_step_at timestamp)"
    )
    held = {"g1": "J1", "g2": "J1", "g3": "J2", "g4": "J3"}
    for m in range(4):
        at = T0 + timedelta(minutes=m)
        for gpu in ("g1", "g2", "g3", "g4", "g9"):
            tensor = 40.0 if gpu == "g4" else 1.0
            con.execute("insert into staging.stg_gpu_telemetry__minutes values (?, ?, 95, ?)", [gpu, at, tensor])
            if gpu in held:
                con.execute("insert into intermediate.int_gpu_minutes__allocation values (?, ?, ?, 0)",
                            [gpu, at, held[gpu]])  # fmt: skip
    con.execute("insert into staging.stg_jobs__submissions values ('J1', 'a'), ('J2', 'b'), ('J3', 'a')")
    con.execute("insert into intermediate.int_jobs__attempt_progress values ('J2', 0, ?)", [T0 + timedelta(minutes=2)])
    return con


def test_spinning_gpus_count_until_the_jobs_first_step():
    """Team a: J1's 2 GPUs in each of the 4 minutes (J3 works, g9 is nobody's). Team b: J2's GPU at 10:00 and 10:01,
    not from its first step at 10:02 on."""
    found = busy_without_progress(_warehouse(), (T0, T0 + timedelta(minutes=4)), 85.0, 3.0)
    rows = sorted(found.rows())
    assert rows == [("a", T0 + timedelta(minutes=m), 2.0) for m in range(4)] + [
        ("b", T0, 1.0),
        ("b", T0 + timedelta(minutes=1), 1.0),
    ]


def test_a_window_with_no_spinning_gpu_is_empty():
    found = busy_without_progress(_warehouse(), (T0 + timedelta(hours=1), T0 + timedelta(hours=2)), 85.0, 3.0)
    assert found.is_empty() and found.columns == ["team", "minute_at", "gpus"]
