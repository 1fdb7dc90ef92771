"""`goodput bench`: speed and memory of the pipeline on the default fleet, as medians over repeated runs and as
ratios against a floor measured in the same run (so a noisy shared machine shifts both sides alike).

Each measured step runs in a fresh child process, so its peak memory is its own.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import platform
import resource
import shutil
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from datetime import timedelta
from pathlib import Path
from queue import Empty

from pipelines.quiet_duckdb import quiet

DEFAULT_SCENARIO = {"name": "bench", "seed": 1, "start": "2026-03-02T00:00:00Z"}


@dataclass
class Figure:
    name: str
    median_s: float
    runs_s: list[float]
    peak_rss_mib: float
    baseline: str | None = None
    baseline_median_s: float | None = None
    target_s: float | None = None
    rows_per_s: float | None = None  # of the GPU-minute fact, for the model builds of each engine

    @property
    def ratio(self) -> float | None:
        return self.median_s / self.baseline_median_s if self.baseline_median_s else None


def _child(target, args, queue) -> None:
    started = time.perf_counter()
    timed = target(*args)  # a target that times itself (after its imports) returns its own seconds
    elapsed = timed if isinstance(timed, float) else time.perf_counter() - started
    if hasattr(timed, "stop"):  # a Spark session: its JVM, a child process, counts once it has exited
        timed.stop()
        timed = None
    peak = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    queue.put((elapsed, peak / 1024))


def _measure(target, *args) -> tuple[float, float]:
    """Seconds and peak RSS (MiB) of target(*args) in a fresh process."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_child, args=(target, args, queue))
    process.start()
    while True:  # a child that dies (out of memory, say) never answers: say so rather than wait forever
        try:
            elapsed, rss = queue.get(timeout=5)
            break
        except Empty:
            if not process.is_alive():
                raise RuntimeError(f"benchmark step {target.__name__} died (exit code {process.exitcode})") from None
    process.join()
    if process.exitcode:
        raise RuntimeError(f"benchmark step {target.__name__} failed with exit code {process.exitcode}")
    return elapsed, rss


def _simulate(days: int, out: str) -> None:
    from pipelines.simulate.run import simulate
    from pipelines.simulate.scenario import scenario_from_dict

    simulate(scenario_from_dict({**DEFAULT_SCENARIO, "days": days}), out, progress=False)


def _rewrite_parquet(landing: str, out: str) -> None:
    """The floor of simulation: read back what it wrote and write the same tables again."""
    import pyarrow.parquet as pq

    for path in Path(landing).rglob("*.parquet"):
        target = Path(out) / path.relative_to(landing)
        target.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pq.read_table(path), target, compression="zstd")


def _build(landing: str, db: str) -> None:
    from pipelines.orchestration.build import build

    build(landing, db, progress=False, models=False)


def _scan_load(landing: str, db: str) -> None:
    """The floor of ingest: one DuckDB scan of each source's Parquet straight into a table."""
    import duckdb

    con = quiet(duckdb.connect(db))
    for folder in sorted(p for p in Path(landing).iterdir() if p.is_dir() and not p.name.startswith("_")):
        con.execute(f"create table {folder.name} as select * from read_parquet(?)", [str(folder / "*" / "*.parquet")])
    con.close()


def _models(landing: str, db: str) -> None:
    from pipelines.orchestration.build import build

    build(landing, db, progress=False)  # sources are already loaded: this is the model build


def _spark_build(landing: str, root: str, master: str):
    """`goodput build --engine spark` from the landing (the contracts, the export, the session and every model);
    returns the session, so that its JVM's memory is counted once it has stopped."""
    from pipelines.spark.build import build_spark
    from pipelines.spark.session import spark_session

    build_spark(landing, root, master=master, progress=False)
    return spark_session(master)


def _spark_figures(landing: Path, work: Path, duckdb_build: Figure, db: Path) -> list[Figure]:
    """The Spark build of the same landing on one and two local cores, one run each (minutes apiece), against the
    DuckDB model build of the same run; rows per second of the GPU-minute fact on each engine."""
    import duckdb
    import pyarrow.parquet as pq

    from pipelines.spark.folder import SparkFolder, parquet_files
    from pipelines.warehouse.layout import working_path

    con = quiet(duckdb.connect(str(working_path(db)), read_only=True))
    fact_rows = con.execute("select count(*) from marts.fct_goodput__gpu_minutes").fetchall()[0][0]
    con.close()
    figures = [
        replace(duckdb_build, name=f"{duckdb_build.name}_gpu_minute_rate", rows_per_s=fact_rows / duckdb_build.median_s)
    ]
    for master in ("local[1]", "local[2]"):
        root = work / f"spark_{master[6]}"
        elapsed, peak = _measure(_spark_build, str(landing), str(root), master)
        files = parquet_files(SparkFolder.of(root).table("marts.fct_goodput__gpu_minutes"))
        rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
        figure = Figure(f"spark_build_{master}", elapsed, [elapsed], peak, "DuckDB model build (same run)",
                        duckdb_build.median_s, None, rows / elapsed)  # fmt: skip
        figures.append(_report(figure))
        shutil.rmtree(root, ignore_errors=True)
    return figures


def _tick(landing: str, db: str, start: str, end: str, note: str) -> float:
    """What the 5-minute schedule runs (its window starts where the warehouse's data ends, here `start`), timed
    after the imports: the schedule's process has its code loaded before the first tick. Its publication's seconds
    go to the file `note`."""
    from pipelines.orchestration.tick import tick

    started = time.perf_counter()
    result = tick(landing, db)
    elapsed = time.perf_counter() - started
    Path(note).write_text(json.dumps(result["publish_s"]))
    return elapsed


def _query(db: str) -> float:
    """Seconds of the query itself, in a process that has imported the library (as a notebook has)."""
    from pipelines.semantic.query import query

    started = time.perf_counter()
    query("goodput", by=["team"], grain="hour", db=db)
    return time.perf_counter() - started


def _render_report(db: str, name: str, out: str) -> float:
    """Seconds to write one report page from the warehouse, after the imports (as the schedule's process runs it)."""
    from pipelines.ingest.load import connect
    from pipelines.reports.run import write_report

    with connect(db, read_only=True) as con:
        return write_report(con, name, Path(out)).render_s


def _report_figures(db: Path, work: Path, repeat: int) -> list[Figure]:
    """Each page's render in a fresh process, then its load in headless Chromium (navigation to every chart drawn)
    against an empty page in the same browser, the floor of opening anything."""
    from pipelines.reports.browser import check_pages, chromium_path
    from pipelines.reports.run import NAMES

    out = work / "reports"
    figures = [_timed(f"report_{name}_render", repeat, None, _render_report, str(db), name, str(out)) for name in NAMES]
    if chromium_path() is None:
        return figures
    (out / "empty.html").write_text("<!doctype html><title>empty</title>")
    pages = [out / f"{name}.html" for name in NAMES]
    loads = [check_pages([*pages, out / "empty.html"]) for _ in range(repeat)]
    floor = statistics.median(run[-1].load_ms / 1000 for run in loads)
    for index, name in enumerate(NAMES):
        runs = [run[index].load_ms / 1000 for run in loads]
        figures.append(
            _report(Figure(f"report_{name}_load", statistics.median(runs), runs, 0.0, "an empty page", floor, 3.0))
        )
    return figures


def _pandas_north_star(landing: str) -> None:
    """The reference: the same north star as an analyst would write it without this tool, in pandas over the landing
    Parquet: paid GPU-minutes from telemetry, faults, GPU-minutes held by attempts, work lost after the last
    checkpoint of failed attempts, and step efficiency against a median reference; hourly goodput by team."""
    import numpy as np
    import pandas as pd

    root = Path(landing)
    gpu = pd.read_parquet(
        root / "gpu_telemetry",
        columns=["ts", "gpu_id", "node_id", "sm_active_pct", "gpu_util_pct", "ecc_uncorrected_count"],
    )
    gpu["healthy"] = gpu.ecc_uncorrected_count == 0
    events = pd.read_parquet(
        root / "scheduler_events", columns=["event_at", "job_id", "attempt", "event_type", "gpu_ids", "state"]
    )
    jobs = pd.read_parquet(root / "job_metadata", columns=["job_id", "team", "model_type", "reports_steps"])
    runtime = pd.read_parquet(
        root / "job_runtime_metrics",
        columns=["ts", "job_id", "attempt", "node_id", "steps", "step_time_s", "checkpoint_s"],
    )
    starts = events[events.event_type == "started"][["job_id", "attempt", "event_at", "gpu_ids"]]
    ends = events[events.event_type == "ended"][["job_id", "attempt", "event_at", "state"]]
    attempts = starts.merge(ends, on=["job_id", "attempt"], how="left", suffixes=("_start", "_end"))
    attempts["event_at_end"] = attempts.event_at_end.fillna(gpu.ts.max() + pd.Timedelta(minutes=1))
    attempts["gpu_id"] = attempts.gpu_ids.str.split(",")
    held = attempts.explode("gpu_id").reset_index(drop=True)
    minutes = ((held.event_at_end - held.event_at_start).dt.total_seconds() // 60).clip(lower=0).astype(int)
    held = held.loc[held.index.repeat(minutes)]
    held["ts"] = held.event_at_start + pd.to_timedelta(held.groupby(level=0).cumcount(), unit="min")
    held = held.reset_index(drop=True)
    checkpoints = runtime[runtime.checkpoint_s > 0].groupby(["job_id", "attempt"]).ts.max().rename("checkpoint_at")
    held = held.join(checkpoints, on=["job_id", "attempt"]).merge(jobs, on="job_id", how="left")
    lost = (
        held.state.notna()
        & (held.state != "completed")
        & held.reports_steps.fillna(False)
        & (held.checkpoint_at.isna() | (held.ts > held.checkpoint_at))
    )
    held["retained"] = ~lost
    runtime["hour"] = runtime.ts.dt.floor("h")
    runtime = runtime.merge(jobs[["job_id", "model_type"]], on="job_id")
    reference = runtime[runtime.steps > 0].groupby(["model_type", "hour"]).step_time_s.median().rename("ref")
    runtime = runtime.join(reference, on=["model_type", "hour"])
    runtime["efficiency"] = (runtime.steps * runtime.ref / 60).clip(upper=1)
    minute = gpu.merge(
        held[["gpu_id", "ts", "job_id", "attempt", "team", "reports_steps", "retained"]],
        on=["gpu_id", "ts"],
        how="left",
    )
    minute = minute.merge(
        runtime[["job_id", "attempt", "node_id", "ts", "efficiency"]],
        on=["job_id", "attempt", "node_id", "ts"],
        how="left",
    )
    active = minute.sm_active_pct.fillna(minute.gpu_util_pct) / 100
    efficiency = np.where(minute.reports_steps.fillna(True), minute.efficiency.fillna(0), active)
    minute["productive"] = np.where(minute.healthy & minute.retained.fillna(False).astype(bool), efficiency, 0)
    minute["hour"] = minute.ts.dt.floor("h")
    return minute.groupby(["hour", minute.team.fillna("unallocated")]).agg(
        productive=("productive", "sum"), paid=("ts", "size")
    )


ANALYST_SQL = """
with gpu as (
    select ts, gpu_id, node_id, sm_active_pct, gpu_util_pct, ecc_uncorrected_count = 0 as healthy,
    from read_parquet($gpu)
),
events as (select event_at, job_id, attempt, event_type, gpu_ids, state, from read_parquet($events)),
jobs as (select job_id, team, model_type, reports_steps, from read_parquet($jobs)),
runtime as (select ts, job_id, attempt, node_id, steps, step_time_s, checkpoint_s, from read_parquet($runtime)),
attempts as (
    select s.job_id, s.attempt, s.event_at as started_at, e.state, s.gpu_ids,
        coalesce(e.event_at, (select max(ts) + interval 1 minute from gpu)) as ended_at,
    from events as s
    left join events as e on e.job_id = s.job_id and e.attempt = s.attempt and e.event_type = 'ended'
    where s.event_type = 'started'
),
checkpoints as (select job_id, attempt, max(ts) as checkpoint_at, from runtime where checkpoint_s > 0 group by all),
held as (
    select a.job_id, a.attempt, a.state, g.gpu_id, j.team, j.reports_steps, c.checkpoint_at,
        a.started_at + to_minutes(m) as ts,
    from attempts as a
    cross join unnest(string_split(a.gpu_ids, ',')) as g(gpu_id)
    cross join range(greatest(0, floor(epoch(a.ended_at - a.started_at) / 60))::bigint) as r(m)
    left join checkpoints as c on c.job_id = a.job_id and c.attempt = a.attempt
    left join jobs as j on j.job_id = a.job_id
),
reference as (
    select j.model_type, date_trunc('hour', r.ts) as hour, median(r.step_time_s) as ref,
    from runtime as r join jobs as j using (job_id)
    where r.steps > 0 group by all
),
efficiency as (
    select r.job_id, r.attempt, r.node_id, r.ts,
        -- pandas' clip keeps a missing value missing; DuckDB's least would skip it
        if(r.steps * f.ref is null, null, least(r.steps * f.ref / 60, 1)) as efficiency,
    from runtime as r
    join jobs as j using (job_id)
    left join reference as f on f.model_type = j.model_type and f.hour = date_trunc('hour', r.ts)
),
minutes as (
    select g.ts, g.healthy, h.team, coalesce(g.sm_active_pct, g.gpu_util_pct) / 100 as active, h.reports_steps,
        e.efficiency,
        h.job_id is not null and not (h.state is not null and h.state <> 'completed'
            and coalesce(h.reports_steps, false) and (h.checkpoint_at is null or h.ts > h.checkpoint_at)) as retained,
    from gpu as g
    left join held as h on h.gpu_id = g.gpu_id and h.ts = g.ts
    left join efficiency as e on e.job_id = h.job_id and e.attempt = h.attempt and e.node_id = g.node_id
        and e.ts = g.ts
)
select date_trunc('hour', ts) as hour, coalesce(team, 'unallocated') as team,
    sum(case when healthy and retained
        then (case when coalesce(reports_steps, true) then coalesce(efficiency, 0) else active end)
        else 0 end) as productive,
    count(*) as paid,
from minutes
group by all
"""


def _duckdb_north_star(landing: str) -> list[tuple]:
    """The analyst's north star above, transcribed line for line into one DuckDB query over the same Parquet: what
    the engine alone gains over pandas on the same computation, apart from the warehouse's richer model."""
    import duckdb

    root = Path(landing)
    con = quiet(duckdb.connect())
    params = {
        name: str(root / source / "*" / "*.parquet")
        for name, source in (
            ("gpu", "gpu_telemetry"),
            ("events", "scheduler_events"),
            ("jobs", "job_metadata"),
            ("runtime", "job_runtime_metrics"),
        )
    }
    rows = con.execute(ANALYST_SQL, params).fetchall()
    con.close()
    return rows


def _scan(landing: str) -> None:
    """The limit: one DuckDB scan of the same Parquet columns the north star needs."""
    import duckdb

    con = quiet(duckdb.connect())
    for source, columns in (
        ("gpu_telemetry", "ts, gpu_id, gpu_util_pct, sm_active_pct, ecc_uncorrected_count"),
        ("job_runtime_metrics", "ts, job_id, attempt, node_id, steps, step_time_s"),
        ("scheduler_events", "job_id, attempt, event_type, gpu_ids"),
    ):
        con.execute(
            f"select count(*), {', '.join(f'count({c})' for c in columns.split(', '))} from read_parquet(?)",
            [str(Path(landing) / source / "*" / "*.parquet")],
        ).fetchall()
    con.close()


def _add_tick(landing: Path, number: int) -> tuple[str, str]:
    """Five new minutes on top of the landing: its last five minutes of telemetry and steps, five minutes later."""
    import duckdb

    con = quiet(duckdb.connect())
    con.execute("set TimeZone = 'UTC'")
    end = con.execute(
        "select max(ts) from read_parquet(?)", [str(landing / "gpu_telemetry" / "*" / "*.parquet")]
    ).fetchone()[0]
    for source in ("gpu_telemetry", "node_telemetry", "network_telemetry", "job_runtime_metrics"):
        folder = landing / source / f"date={(end + timedelta(minutes=5)).date().isoformat()}"
        folder.mkdir(parents=True, exist_ok=True)
        target = str(folder / f"tick-{number}.parquet")
        con.execute(
            "copy (select * replace (ts + interval 5 minute as ts) from read_parquet(?) "
            f"where ts > ?::timestamp - interval 5 minute) to '{target}' (format parquet)",
            [str(landing / source / "*" / "*.parquet"), end],
        )
    _add_ends(con, landing, end, number)
    con.close()
    if number == 0:
        _add_policy_change(landing, end)
    start = end + timedelta(minutes=1)
    return start.isoformat(), (start + timedelta(minutes=5)).isoformat()


ENDS_SQL = """
with events as (select * from read_parquet($events)),
ended as (select job_id, attempt from events where event_type = 'ended'),
running as (
    select s.*, row_number() over (order by hash(s.job_id, s.attempt)) as pick
    from events as s anti join ended as e on e.job_id = s.job_id and e.attempt = s.attempt
    where s.event_type = 'started' and s.event_at <= $end
),
rates as (
    -- ends of each kind per five minutes, as the data has them
    select state, round(count(*) * 5.0 / (date_diff('minute', min(min(event_at)) over (), $end) + 1)) as per_tick
    from events where event_type = 'ended' group by state
),
slots as (
    select state, sum(per_tick) over (order by state) - per_tick as first, per_tick from rates
)
select r.* exclude (pick) replace (
    'ended' as event_type,
    $end + to_minutes(1 + r.pick % 5) as event_at,
    s.state as state,
    case when s.state = 'completed' then 0 else 1 end as exit_code,
    case when s.state = 'completed' then null else 'bench tick: ' || s.state end as reason
)
from running as r join slots as s on r.pick > s.first and r.pick <= s.first + s.per_tick
"""


def _add_ends(con, landing: Path, end, number: int) -> None:
    """The tick's scheduler events: running attempts end in the five new minutes, as many of each kind (completed,
    failed, cancelled, ...) as the data ends per five minutes; an attempt that did not complete makes the tick
    restate its minutes since the last checkpoint, as a real tick does."""
    folder = landing / "scheduler_events" / f"date={(end + timedelta(minutes=5)).date().isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    frame = con.sql(
        ENDS_SQL, params={"events": str(landing / "scheduler_events" / "*" / "*.parquet"), "end": end}
    ).to_arrow_table()
    import pyarrow.parquet as pq

    pq.write_table(frame, folder / f"tick-{number}.parquet")


def _add_policy_change(landing: Path, end) -> None:
    """A fleet-wide scheduler policy change an hour before the ticks, as a change system exporting hourly would
    land it: every tick then runs the rules that watch policy changes (placement, priorities, queue jumps), as a
    live tick does most of the time, rather than the quiet case of no change in the last day."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipelines.contracts.sources import CHANGE_EVENTS

    folder = landing / "change_events" / f"date={(end + timedelta(minutes=5)).date().isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    row = {name: [None] for name in CHANGE_EVENTS.column_names}
    row.update(
        change_id=["chg-bench-tick"],
        changed_at=[end - timedelta(hours=1)],
        change_type=["scheduler_policy"],
        component=["fairshare half-life"],
        description=["bench: a policy change the ticks watch"],
    )
    pq.write_table(pa.table(row, schema=CHANGE_EVENTS.arrow_schema()), folder / "tick-policy.parquet")


PARSER_SAMPLES = 1_000_000
# dcgm-exporter's default counter list exports about 25 fields per GPU; the scrape repeats a GPU's labels for each
DCGM_FIELDS = tuple(
    "DCGM_FI_DEV_GPU_UTIL DCGM_FI_DEV_POWER_USAGE DCGM_FI_DEV_GPU_TEMP DCGM_FI_DEV_FB_USED DCGM_FI_DEV_FB_FREE "
    "DCGM_FI_DEV_SM_CLOCK DCGM_FI_DEV_MEM_CLOCK DCGM_FI_DEV_MEMORY_TEMP DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION "
    "DCGM_FI_DEV_PCIE_REPLAY_COUNTER DCGM_FI_DEV_MEM_COPY_UTIL DCGM_FI_DEV_ENC_UTIL DCGM_FI_DEV_DEC_UTIL "
    "DCGM_FI_DEV_XID_ERRORS DCGM_FI_DEV_FB_RESERVED DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL "
    "DCGM_FI_DEV_VGPU_LICENSE_STATUS DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS "
    "DCGM_FI_DEV_ROW_REMAP_FAILURE DCGM_FI_PROF_GR_ENGINE_ACTIVE DCGM_FI_PROF_PIPE_TENSOR_ACTIVE "
    "DCGM_FI_PROF_DRAM_ACTIVE DCGM_FI_PROF_PCIE_TX_BYTES DCGM_FI_PROF_PCIE_RX_BYTES".split()
)


def _write_scrapes(path: Path, samples: int) -> None:
    """A dcgm-exporter-like exposition of `samples` samples: 8 GPUs a host, its default fields, the labels a real
    exporter writes (grouped by GPU here, by field in a real scrape: the parser does not care)."""
    lines = []
    for index in range(samples):
        per_gpu = len(DCGM_FIELDS)
        host, gpu, field = index // (8 * per_gpu), (index // per_gpu) % 8, DCGM_FIELDS[index % per_gpu]
        if index % per_gpu == 0:
            lines.append(f"# TYPE {field} gauge")
        labels = (
            f'gpu="{gpu}",UUID="GPU-{host:08d}-{gpu:04d}",device="nvidia{gpu}",modelName="NVIDIA H100 80GB HBM3",'
            f'Hostname="node-{host:05d}",DCGM_FI_DRIVER_VERSION="550.54.15",container="",namespace="",pod=""'
        )
        lines.append(f"{field}{{{labels}}} {index % 997}.5")
    path.write_text("\n".join(lines) + "\n")


def _parse_fast(path: str, warm: bool = True) -> float:
    """One parse, timed; `warm` parses the file once untimed first, as the second file of a folder would be read
    (the first parse in a process also pays for its memory pages and Polars' start-up, about 0.4 s here)."""
    from pipelines.adapters.prometheus import read_exposition, with_labels

    def parse() -> None:
        parsed = read_exposition(Path(path))
        with_labels(parsed.samples, ["gpu", "UUID", "modelName", "Hostname"])

    if warm:
        parse()
    started = time.perf_counter()
    parse()
    return time.perf_counter() - started


def _parse_reference(path: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    started = time.perf_counter()
    for family in text_string_to_metric_families(Path(path).read_text()):
        for _ in family.samples:
            pass
    return time.perf_counter() - started


def _parser_figures(work: Path, repeat: int) -> list[Figure]:
    """One core (POLARS_MAX_THREADS=1) against prometheus_client, the correctness reference, on the same text: the
    steady state of a folder ingest (the target), and the first file of a fresh process."""
    path = work / "scrape.prom"
    _write_scrapes(path, PARSER_SAMPLES)
    before = os.environ.get("POLARS_MAX_THREADS")
    os.environ["POLARS_MAX_THREADS"] = "1"
    label = f"parse_prometheus_{PARSER_SAMPLES // 1000}k_samples_1_core"
    try:
        return [
            _timed(
                label,
                repeat,
                PARSER_SAMPLES / 1_000_000,
                _parse_fast,
                str(path),
                baseline=(_parse_reference, str(path)),
                baseline_label="prometheus_client's parser on the same text",
            ),
            _timed(f"{label}_first_in_process", repeat, None, _parse_fast, str(path), False),
        ]
    finally:
        os.environ.pop("POLARS_MAX_THREADS") if before is None else os.environ.update(POLARS_MAX_THREADS=before)


def _report(figure: Figure) -> Figure:
    """Each figure as it is measured, on stderr, so a long run shows its progress and loses nothing."""
    import sys

    print(
        f"bench: {figure.name}: median {figure.median_s:.2f} s over {len(figure.runs_s)} run(s), "
        f"peak {figure.peak_rss_mib:,.0f} MiB",
        file=sys.stderr,
        flush=True,
    )
    return figure


def _timed(label: str, repeat: int, target_s: float | None, step, *args, baseline=None, baseline_label=None):
    runs, rss, floors = [], [], []
    for _ in range(repeat):
        elapsed, peak = _measure(step, *args)
        runs.append(elapsed)
        rss.append(peak)
        if baseline is not None:
            floors.append(_measure(*baseline)[0])
    return _report(
        Figure(
            label,
            statistics.median(runs),
            runs,
            max(rss),
            baseline_label,
            statistics.median(floors) if floors else None,
            target_s,
        )
    )


def run_bench(days: int = 7, repeat: int = 3, work: Path | None = None, spark: bool = True) -> list[Figure]:
    work = Path(work or tempfile.mkdtemp(prefix="goodput-bench-"))
    figures = [*_parser_figures(work, repeat), _simulate_figure(1, repeat, work, 15.0)]
    if days != 1:
        figures.append(_simulate_figure(days, repeat, work, 90.0 * days / 7))
    landing = work / f"landing_{days}d_0"
    runs, floors, rss = [], [], []
    for index in range(repeat):
        db, floor_db = work / f"bench_{index}.duckdb", work / f"floor_{index}.duckdb"
        elapsed, peak = _measure(_build, str(landing), str(db))
        runs.append(elapsed)
        rss.append(peak)
        floors.append(_measure(_scan_load, str(landing), str(floor_db))[0])
        for path in (db, floor_db):
            path.unlink(missing_ok=True)
    figures.append(
        _report(
            Figure(
                f"ingest_{days}d",
                statistics.median(runs),
                runs,
                max(rss),
                "one DuckDB scan of the same Parquet into tables",
                statistics.median(floors),
                60.0 * days / 7,
            )
        )
    )
    figures += _model_figures(landing, work, days, repeat, spark)
    shutil.rmtree(work, ignore_errors=True)
    return figures


def _simulate_figure(days: int, repeat: int, work: Path, target_s: float) -> Figure:
    runs, floors, rss = [], [], []
    for index in range(repeat):
        landing = work / f"landing_{days}d_{index}"
        elapsed, peak = _measure(_simulate, days, str(landing))
        runs.append(elapsed)
        rss.append(peak)
        floors.append(_measure(_rewrite_parquet, str(landing), str(work / "rewrite"))[0])
        shutil.rmtree(work / "rewrite", ignore_errors=True)
        if index:
            shutil.rmtree(landing)
    return _report(
        Figure(
            f"simulate_{days}d",
            statistics.median(runs),
            runs,
            max(rss),
            "rewrite the same Parquet",
            statistics.median(floors),
            target_s,
        )
    )


def _model_figures(landing: Path, work: Path, days: int, repeat: int, spark: bool = False) -> list[Figure]:
    """Full model build against the pandas reference and the scan limit; a 5-minute tick; an hourly query."""
    db = work / "models.duckdb"
    _measure(_build, str(landing), str(db))  # sources loaded once; what follows times the models
    figures = [
        _timed(
            f"model_build_{days}d",
            repeat,
            120.0 * days / 7,
            _models,
            str(landing),
            str(db),
            baseline=(_pandas_north_star, str(landing)),
            baseline_label="pandas north star (analyst)",
        )
    ]
    # the same analyst computation on DuckDB, held against the pandas runs above: the engine's share of the ratio
    engine = _timed("analyst_north_star_duckdb", repeat, None, _duckdb_north_star, str(landing))
    figures.append(replace(engine, baseline=figures[0].baseline, baseline_median_s=figures[0].baseline_median_s))
    if spark:  # the same landing before the ticks below add to it
        figures += _spark_figures(landing, work, figures[0], db)
    figures.append(_timed("duckdb_scan_limit", repeat, None, _scan, str(landing)))
    figures.append(_timed("query_hourly_goodput_by_team", repeat, 0.5, _query, str(db)))
    ticks, publishing = [], []
    for number in range(repeat):  # each tick brings five new minutes
        start, end = _add_tick(landing, number)
        ticks.append(_measure(_tick, str(landing), str(db), start, end, str(work / "publish_s.json")))
        publishing.append(json.loads((work / "publish_s.json").read_text()))
    tick = _report(
        Figure(
            "tick_5min",
            statistics.median(t for t, _ in ticks),
            [t for t, _ in ticks],
            max(m for _, m in ticks),
            None,
            None,
            5.0,
        )
    )
    # publication is part of the tick: its share is the ratio against the tick it belongs to
    share = Figure("tick_publish", statistics.median(publishing), publishing, tick.peak_rss_mib, "tick_5min",
                   tick.median_s)  # fmt: skip
    figures += [tick, _report(share)]
    figures += _report_figures(db, work, repeat)
    return figures


def machine() -> dict[str, object]:
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}


def to_json(figures: list[Figure]) -> str:
    return json.dumps(
        {"machine": machine(), "figures": [{**asdict(f), "ratio_to_baseline": f.ratio} for f in figures]}, indent=2
    )
