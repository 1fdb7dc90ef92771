"""Each adapter on real exporter output (a copy of ../shared/fixtures) with the numbers a person reading the file
expects, on broken variants, and a warehouse built from adapter output alone."""

import json
import shutil
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest

from pipelines.adapters import dcgm, k8s, node_exporter, nvidia_smi, sacct, step_times
from pipelines.adapters.exporter_files import ingest
from pipelines.cli import main
from tests.fixtures.tiny_fleet import write

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real"
H100 = REAL / "nvidia_smi" / "linux-x86_64__nvidia-h100-80gb-hbm3__590.48.01__load.query-gpu.csv"
AT = datetime(2026, 3, 2, 10, 0, 15)


def _reconciles(result) -> None:
    assert result.read == result.used + result.ignored + result.quarantined


def test_dcgm_scrape_reads_power_temperature_memory_and_models():
    result = dcgm.adapt([REAL / "dcgm" / "datadog_t4_a10g_excerpt.prom"], at=AT)
    gpus = result.tables["gpu_telemetry"].sort("gpu_id")
    t4 = gpus.row(by_predicate=pl.col("gpu_id") == "424773df46e0-g0", named=True)
    assert (t4["power_w"], t4["temp_c"], t4["mem_used_mib"], t4["gpu_util_pct"]) == (8.969, 25.0, 0, 0.0)
    assert t4["sm_clock_mhz"] == 300.0 and t4["xid"] is None  # XID 0 is "none since boot"
    assert t4["ts"] == datetime(2026, 3, 2, 10, 0)
    other = gpus.row(by_predicate=pl.col("gpu_id") == "551bdf382151-g0", named=True)
    assert other["throttle_reasons"] == 1  # the older Hostname label; throttle reason 0x1 (GPU idle)
    a10g = gpus.row(by_predicate=pl.col("gpu_id") == "ip-11111-g0", named=True)
    assert a10g["dram_active_pct"] == pytest.approx(0.0003)  # DCGM ratios become percent
    inventory = result.tables["inventory"].sort("gpu_id")
    assert dict(zip(inventory["gpu_id"], inventory["sku"], strict=True)) == {
        "424773df46e0-g0": "T4",
        "551bdf382151-g0": "T4",
        "ip-11111-g0": "A10G",
    }
    assert inventory.filter(pl.col("gpu_id") == "551bdf382151-g0")["tdp_w"].item() == 70.0  # POWER_MGMT_LIMIT
    assert inventory.filter(pl.col("gpu_id") == "424773df46e0-g0")["gpu_mem_mib"].item() == 15109  # used + free
    # the label-less tensor family cannot be given to one of three GPUs
    assert result.quarantine["reason"].to_list() == ["no gpu label, and the scrape holds several GPUs"]
    assert result.quarantine["line"].to_list() == [36]
    _reconciles(result)


def test_dcgm_scrapes_fold_into_minutes_with_counter_deltas_and_sentinels(tmp_path):
    labels = 'gpu="0",UUID="GPU-1",modelName="NVIDIA H100 80GB HBM3",hostname="n1"'
    for second, power, sbe, temp in ((5, 600.0, 10, 70), (35, 640.0, 13, 74), (65, 9223372036854775794, 2, 71)):
        text = (
            f"DCGM_FI_DEV_POWER_USAGE{{{labels}}} {power}\nDCGM_FI_DEV_GPU_TEMP{{{labels}}} {temp}\n"
            f"DCGM_FI_DEV_ECC_SBE_VOL_TOTAL{{{labels}}} {sbe}\nDCGM_FI_DEV_GPU_UTIL{{{labels}}} 100\n"
            f'UNKNOWN_METRIC{{{labels}}} 1\nDCGM_FI_DEV_FB_USED{{{labels}}} 2147483647\nDCGM_FI_DEV_GPU_TEMP{{gpu="0"'
        )
        (tmp_path / f"2026-03-02T10:{second // 60:02d}:{second % 60:02d}Z.prom").write_text(text)
    result = dcgm.adapt(sorted(tmp_path.iterdir()))
    minutes = result.tables["gpu_telemetry"].sort("ts")
    assert minutes["ts"].to_list() == [datetime(2026, 3, 2, 10, 0), datetime(2026, 3, 2, 10, 1)]
    assert minutes["power_w"].to_list() == [620.0, None]  # the INT64 blank sentinel is no reading
    assert minutes["temp_c"].to_list() == [74.0, 71.0]  # the minute's maximum
    assert minutes["ecc_corrected_count"].to_list() == [3, 2]  # first scrape 0, then +3; a reset counts its value
    assert minutes["mem_used_mib"].to_list() == [None, None]  # the INT32 blank sentinel
    reasons = result.quarantine.group_by("reason").len().sort("reason").rows()
    assert reasons == [("not a sample line (malformed or truncated)", 3), ("unknown metric UNKNOWN_METRIC", 3)]
    assert result.tables["inventory"]["sku"].to_list() == ["H100-SXM-80GB"]
    _reconciles(result)


def test_nvidia_smi_h100_under_load():
    result = nvidia_smi.adapt([H100], node="h100-host")
    row = result.tables["gpu_telemetry"].row(0, named=True)
    assert row["gpu_id"] == "h100-host-g0" and row["ts"] == datetime(2026, 7, 14, 8, 12)
    assert (row["power_w"], row["mem_used_mib"], row["gpu_util_pct"], row["temp_c"]) == (631.95, 19818, 100.0, 59.0)
    assert row["sm_clock_mhz"] == 1980.0 and row["throttle_reasons"] == 0 and row["ecc_corrected_count"] == 0
    inventory = result.tables["inventory"].row(0, named=True)
    assert (inventory["sku"], inventory["gpu_mem_mib"], inventory["tdp_w"]) == ("H100-SXM-80GB", 81559, 700.0)
    _reconciles(result)


def test_nvidia_smi_any_column_order_units_na_and_old_names(tmp_path):
    csv = tmp_path / "host7.csv"
    csv.write_text(
        "index, clocks_throttle_reasons.active, power.draw [W], timestamp, memory.used [MiB], utilization.gpu [%], "
        "temperature.gpu, name\n"
        "1, 0x0000000000000008, [N/A], 2026/03/02 10:00:01.000, 100 MiB, 5 %, 40, NVIDIA A100-SXM4-80GB\n"
        "1, 0x0000000000000000, 300.00 W, not a time, 100 MiB, 5 %, 40, NVIDIA A100-SXM4-80GB\n"
        "1, 0x0, 300.00 W\n"
    )
    result = nvidia_smi.adapt([csv])
    row = result.tables["gpu_telemetry"].row(0, named=True)
    assert row["gpu_id"] == "host7-g1" and row["throttle_reasons"] == 8 and row["power_w"] is None
    assert result.tables["inventory"]["sku"].to_list() == ["A100-SXM-80GB"]
    assert sorted(result.quarantine["line"].to_list()) == [3, 4]
    _reconciles(result)


def test_nvidia_smi_compute_apps_are_read_and_counted():
    apps = H100.with_name(H100.name.replace("query-gpu", "query-compute-apps"))
    result = nvidia_smi.adapt([apps])
    assert (result.read, result.ignored, result.tables) == (3, 3, {})


def test_sacct_jobs_arrays_states_gpus_and_hosts():
    logs = REAL / "slurm"
    result = sacct.adapt([logs / "xdmod_accounting-logs.log", logs / "xdmod_accounting-logs-with-job-arrays.log"])
    jobs = result.tables["job_metadata"]
    gpu_job = jobs.row(by_predicate=pl.col("job_id") == "5692623", named=True)
    assert gpu_job["requested_gpus"] == 2.0 and gpu_job["team"] == "ccr" and gpu_job["region"] == "ub-hpc"
    events = result.tables["scheduler_events"]
    ended = events.filter(pl.col("event_type") == "ended")
    cancelled = ended.row(by_predicate=pl.col("job_id") == "4107166", named=True)
    assert (cancelled["state"], cancelled["reason"], cancelled["exit_code"]) == ("cancelled", "cancelled by 102216", 0)
    assert cancelled["node_ids"] == "k10n26s01,k13n36s01,k13n37s01"
    timeout = ended.row(by_predicate=pl.col("job_id") == "4103947", named=True)
    assert timeout["state"] == "timeout" and timeout["exit_code"] == 1
    tasks = sorted(int(j.split("_")[1]) for j in jobs["job_id"] if "_" in j)
    assert tasks == [1, 2, 3, 5, 9, 10, 11, 13, 16, 17, 18, 19, 20, 91, 100, 101, 102]  # ranges expanded, deduped
    started = events.filter((pl.col("event_type") == "started") & (pl.col("job_id") == "4103947_100"))
    hosts = started["node_ids"].item().split(",")
    assert len(hosts) == 32 and "d09n04s02" in hosts and hosts[-1] == "d13n16"  # host ranges, widths kept
    assert jobs.row(by_predicate=pl.col("job_id") == "4107219", named=True)["requested_mem_gib"] == pytest.approx(
        3000 * 48 / 1024
    )  # 3000Mc: per CPU
    _reconciles(result)


def test_sacct_utf8_header_steps_and_bad_lines(tmp_path):
    text = (REAL / "slurm" / "xdmod_utf8-multibyte-chars.log").read_text(encoding="utf-8")
    header = "JobID|Submit|Start|End|State|Account|Partition|NNodes|ReqTRES|NodeList\n"
    variant = tmp_path / "with_header.log"
    variant.write_text(
        header
        + "77|2026-03-02T10:00:00|2026-03-02T10:01:00|Unknown|RUNNING|ml|interactive|1|gres/gpu:h100=4|g[01]\n"
        + "77.batch|2026-03-02T10:00:00|2026-03-02T10:01:00|Unknown|RUNNING|ml|interactive|1||g01\n"
        + "78|Unknown|Unknown|Unknown|PENDING|ml|batch|1|gres/gpu=1|None assigned\n"
        + "79|2026-03-02T10:00:00|truncated\n",
        encoding="utf-8",
    )
    utf8 = sacct.adapt([REAL / "slurm" / "xdmod_utf8-multibyte-chars.log"])
    assert utf8.tables["job_metadata"].height == len([line for line in text.splitlines() if line.strip()])
    result = sacct.adapt([variant])
    job = result.tables["job_metadata"].row(0, named=True)
    assert (job["job_id"], job["workload_class"], job["requested_gpus"], job["requested_sku"]) == (
        "77",
        "interactive",
        4.0,
        "H100",  # the GRES type names the family, not the memory size
    )
    assert result.tables["scheduler_events"]["event_type"].to_list() == ["submitted", "started"]  # still running
    assert (result.read, result.ignored) == (4, 1)
    assert sorted(result.quarantine["line"].to_list()) == [4, 5]
    _reconciles(result)


def test_node_exporter_infiniband_rate_between_scrapes(tmp_path):
    original = (REAL / "node_exporter" / "e2e-output.txt").read_text()
    counter = 'node_infiniband_port_data_received_bytes_total{device="mlx4_0",port="1"} '
    assert counter + "1.8527668e+07" in original
    (tmp_path / "2026-03-02T10:00:00Z.prom").write_text(original)
    later = original.replace(counter + "1.8527668e+07", counter + "2.6027668e+07")  # +7.5 MB in 60 s
    (tmp_path / "2026-03-02T10:01:00Z.prom").write_text(later)
    result = node_exporter.adapt(sorted(tmp_path.iterdir()), node="ib-host")
    links = result.tables["network_telemetry"].sort("link_id")
    assert links["link_id"].to_list() == ["mlx4_0/1", "mlx4_0/2"]
    assert links["rx_gbit_s"].to_list() == pytest.approx([7.5e6 * 8 / 1e9 / 60, 0.0])
    node = result.tables["node_telemetry"].row(0, named=True)
    assert node["ts"] == datetime(2026, 3, 2, 10, 1) and node["cpu_util_pct"] is None  # no CPU time moved
    _reconciles(result)


def test_step_times_with_and_without_timestamps(tmp_path):
    stamped = tmp_path / "run.csv"
    stamped.write_text(
        "job_id,worker,step,step_time_s,ts\nj1,0,1,1.5,2026-03-02T10:00:01Z\nj1,1,1,3.0,2026-03-02T10:00:02Z\n"
        "j1,x,2,1.0,2026-03-02T10:00:05Z\n"
    )
    laid = tmp_path / "laid.csv"
    laid.write_text("job_id,worker,step,step_time_s\nj2,0,1,30\nj2,0,2,30\nj2,0,3,30\n")
    result = step_times.adapt([stamped, laid], at=datetime(2026, 3, 2, 10, 0))
    rows = result.tables["job_runtime_metrics"].sort("job_id", "worker", "ts")
    assert rows.select("job_id", "worker", "steps", "step_time_s").rows() == [
        ("j1", 0, 1.0, 1.5),
        ("j1", 1, 1.0, 3.0),
        ("j2", 0, 1.0, 30.0),  # ends at 10:00:30
        ("j2", 0, 2.0, 30.0),  # ends at 10:01:00 and 10:01:30
    ]
    assert result.quarantine.select("line", "reason").rows() == [(4, "worker is not a rank (integer >= 0)")]
    _reconciles(result)


def test_ingest_cli_writes_landing_and_build_quarantines_and_models_run(tmp_path, capsys):
    landing, db = tmp_path / "landing", tmp_path / "wh.duckdb"
    scrape = tmp_path / "scrapes" / "2026-03-02T10:00:15Z.prom"
    scrape.parent.mkdir()
    shutil.copy(REAL / "dcgm" / "datadog_t4_a10g_excerpt.prom", scrape)
    assert main(["ingest", "--format", "dcgm", str(scrape.parent), "--landing", str(landing)]) == 0
    assert "13 records read: 10 used, 2 ignored" in capsys.readouterr().out
    assert main(["ingest", "--format", "sacct", str(REAL / "slurm"), "--landing", str(landing)]) == 0
    assert main(["ingest", "--format", "nvidia-smi", str(H100), "--node", "h100", "--landing", str(landing)]) == 0
    assert main(["ingest", "--format", "nope", str(H100), "--landing", str(landing)]) == 2
    assert main(["build", "--landing", str(landing), "--db", str(db), "--quiet"]) == 0
    capsys.readouterr()
    from pipelines.warehouse.connection import connect

    with connect(db, read_only=True) as con:
        adapter_quarantine = con.sql("select count(*) from raw._quarantine where source = 'adapter:dcgm'").fetchall()
        assert adapter_quarantine == [(1,)]
        assert con.sql("select count(*) from raw.gpu_telemetry").fetchall()[0][0] >= 2
        assert con.sql("select count(*) from marts.fct_goodput__gpu_minutes").fetchall()[0][0] >= 1
    assert main(["query", "goodput", "--by", "region", "--grain", "day", "--db", str(db), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert isinstance(rows, list)
    # the reports on real exporter output alone (no bill, no simulator truth)
    assert main(["report", "all", "--db", str(db), "--out", str(tmp_path / "reports")]) == 0
    assert len(list((tmp_path / "reports").glob("*.html"))) == 5


def test_one_gpu_scrape_alone_builds_reports_and_explain_says_why_it_cannot_compare(tmp_path, capsys):
    """Five minutes of one exporter and nothing else (no scheduler, no bill): the build and every report page work,
    and explain, which compares two windows, says that one 5-minute bucket is not enough."""
    landing, db = tmp_path / "landing", tmp_path / "wh.duckdb"
    scrape = tmp_path / "scrapes" / "2026-03-02T10:00:15Z.prom"
    scrape.parent.mkdir()
    shutil.copy(REAL / "dcgm" / "datadog_t4_a10g_excerpt.prom", scrape)
    assert main(["ingest", "--format", "dcgm", str(scrape.parent), "--landing", str(landing)]) == 0
    assert main(["build", "--landing", str(landing), "--db", str(db), "--quiet"]) == 0
    assert main(["report", "all", "--db", str(db), "--out", str(tmp_path / "reports")]) == 0
    assert len(list((tmp_path / "reports").glob("*.html"))) == 5
    capsys.readouterr()
    assert main(["explain", "--db", str(db), "--format", "json"]) == 2
    assert "one 5-minute bucket" in capsys.readouterr().err
    # the sources nobody connected are reported as such, not as failures of their freshness
    assert main(["quality", "--db", str(db), "--out", str(tmp_path / "quality")]) == 0
    out = capsys.readouterr().out
    assert "not connected (no landing file ever loaded; not run): raw.job_metadata" in out
    assert "raw.scheduler_events" in out and "FAILED" not in out
    assert "not connected" in (tmp_path / "quality" / "quality.html").read_text()
    # a source that was connected and sent nothing fails, and says it is empty rather than "NaT"
    write(landing, "scheduler_events", [])
    assert main(["build", "--landing", str(landing), "--db", str(db), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["quality", "--db", str(db), "--out", str(tmp_path / "quality")]) == 1
    assert "FAILED raw.scheduler_events: column_max_to_be_between event_at (no rows)" in capsys.readouterr().out


def test_a_single_node_exporter_scrape_says_why_nothing_was_written(tmp_path, capsys):
    assert main(["ingest", "--format", "node-exporter", str(REAL / "node_exporter"), "--landing", str(tmp_path)]) == 0
    assert "nothing written: a node's first scrape is only the base of its rates" in capsys.readouterr().out


def test_unknown_format_and_missing_input_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown format 'x'"):
        ingest("x", [tmp_path], tmp_path / "landing")
    with pytest.raises(ValueError, match="no such file"):
        ingest("dcgm", [tmp_path / "absent.prom"], tmp_path / "landing")


def test_k8s_kube_state_metrics_and_events(tmp_path):
    scrape = tmp_path / "ksm-2026-03-02T10:05:00Z.prom"
    scrape.write_text(
        "# TYPE kube_pod_created gauge\n"
        'kube_pod_created{namespace="ml",pod="train-1"} 1772445600\n'
        'kube_pod_start_time{namespace="ml",pod="train-1"} 1772445660\n'
        'kube_pod_status_phase{namespace="ml",pod="train-1",phase="Failed"} 1\n'
        'kube_pod_status_phase{namespace="ml",pod="train-1",phase="Running"} 0\n'
        'kube_pod_container_status_terminated_reason{namespace="ml",pod="train-1",container="c",reason="OOMKilled"} 1\n'
        'kube_pod_container_resource_requests{namespace="ml",pod="train-1",container="c",resource="nvidia_com_gpu",'
        'unit="integer"} 4\n'
        'kube_node_info{node="n1"} 1\n'
    )
    events = tmp_path / "events.json"
    events.write_text(
        json.dumps(
            {
                "items": [
                    {
                        "reason": "FailedScheduling",
                        "message": "0/8 nodes are available: 8 Insufficient nvidia.com/gpu.",
                        "involvedObject": {"kind": "Pod", "name": "train-2", "namespace": "ml"},
                        "lastTimestamp": "2026-03-02T10:01:00Z",
                    },
                    {
                        "reason": "Preempted",
                        "involvedObject": {"kind": "Pod", "name": "train-3", "namespace": "ml"},
                        "eventTime": "2026-03-02T10:02:00.000000Z",
                    },
                    {
                        "reason": "Pulled",
                        "involvedObject": {"kind": "Pod", "name": "x"},
                        "lastTimestamp": "2026-03-02T10:00:00Z",
                    },
                    {"reason": "BackOff", "involvedObject": {"kind": "Pod", "name": "train-4"}},
                ]
            }
        )
    )
    result = k8s.adapt([scrape, events])
    rows = result.tables["scheduler_events"].sort("job_id", "event_at")
    assert rows.select("job_id", "event_type", "state", "reason", "gpus").rows() == [
        ("ml/train-1", "submitted", None, None, 4.0),
        ("ml/train-1", "started", None, None, 4.0),
        ("ml/train-1", "ended", "failed", "OOMKilled", 4.0),
        ("ml/train-2", "pending", None, "0/8 nodes are available: 8 Insufficient nvidia.com/gpu.", None),
        ("ml/train-3", "ended", "preempted", "Preempted", None),
    ]
    assert rows["event_at"][0] == datetime(2026, 3, 2, 10, 0) and rows["event_at"][2] == datetime(2026, 3, 2, 10, 5)
    assert result.quarantine.select("line", "reason").rows() == [(4, "BackOff event without a pod name or a time")]
    _reconciles(result)


def test_a_sampled_step_log_stands_for_every_step_it_skipped(tmp_path):
    """One line every 10 steps at 0.5 s a step: each line is 10 steps and 5 s, so 300 lines are 3,000 steps and
    25 minutes (laid end to end: 1,500 s), not 300 steps and 2.5 minutes."""
    log = tmp_path / "ranks.csv"
    lines = ["job_id,worker,step,step_time_s"]
    lines += [f"j9,{rank},{step},0.5" for rank in range(2) for step in range(10, 3001, 10)]
    lines += ["j9,2,500,0.5", "j9,2,510,0.5", "j9,2,520,0.5"]  # a rank that starts late ran only its own steps
    log.write_text("\n".join(lines) + "\n")
    rows = step_times.adapt([log], at=datetime(2026, 3, 2, 10, 0)).tables["job_runtime_metrics"]
    per_rank = rows.group_by("worker").agg(pl.col("steps").sum(), pl.col("ts").max()).sort("worker")
    assert per_rank["steps"].to_list() == [3000.0, 3000.0, 30.0]
    assert per_rank["ts"].to_list()[:2] == [datetime(2026, 3, 2, 10, 25)] * 2  # the minute of the last step's end
    assert rows.filter(pl.col("worker") == 0)["step_time_s"].unique().to_list() == [0.5]


def test_every_registered_format_is_an_adapter_and_the_cli_names_exactly_them():
    from pipelines.adapters.registry import FORMATS, Adapter
    from pipelines.cli import parser

    assert all(isinstance(f.load(), Adapter) for f in FORMATS.values())
    ingest_parser = parser()._subparsers._group_actions[0].choices["ingest"]
    offered = next(a.metavar for a in ingest_parser._actions if a.dest == "format")
    assert offered == "{" + ",".join(FORMATS) + "}"
