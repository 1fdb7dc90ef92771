"""The pipeline's steps as the bench runs them, each in its own process: simulate, ingest, the model build (DuckDB
and Spark), a live tick on five new minutes, the semantic query, `explain`, the reports, the Prometheus parser."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipelines.warehouse.connection import quiet

DEFAULT_SCENARIO = {"name": "bench", "seed": 1, "start": "2026-03-02T00:00:00Z"}


def simulate(days: int, out: str) -> None:
    from pipelines.simulate.run import simulate as run_simulation
    from pipelines.simulate.scenario import scenario_from_dict

    run_simulation(scenario_from_dict({**DEFAULT_SCENARIO, "days": days, "start": _start(days)}), out, progress=False)


def _start(days: int) -> datetime:
    """The default start, moved back by whole weeks (same weekdays) until the run ends by now: the load quarantines
    rows from the future, and a year from 2026-03-02 would run past today."""
    start = datetime.fromisoformat(DEFAULT_SCENARIO["start"]).replace(tzinfo=None)
    now = datetime.now(UTC).replace(tzinfo=None)
    while start + timedelta(days=days) > now:
        start -= timedelta(weeks=1)
    return start


def ingest(landing: str, db: str) -> None:
    from pipelines.orchestration.build import build

    build(landing, db, progress=False, models=False)


def models(landing: str, db: str) -> None:
    from pipelines.orchestration.build import build

    build(landing, db, progress=False)  # sources are already loaded: this is the model build


def spark_build(landing: str, root: str, master: str):
    """`goodput build --engine spark` from the landing (the contracts, the export, the session and every model);
    returns the session, so that its JVM's memory is counted once it has stopped."""
    from pipelines.spark.build import build_spark
    from pipelines.spark.session import spark_session

    build_spark(landing, root, master=master, progress=False)
    return spark_session(master)


def tick(landing: str, db: str, start: str, end: str, note: str) -> float:
    """What the 5-minute schedule runs (its window starts where the warehouse's data ends, here `start`), timed
    after the imports: the schedule's process has its code loaded before the first tick. The seconds of its steps
    go to the file `note`."""
    from pipelines.orchestration.tick import tick as run_tick

    started = time.perf_counter()
    result = run_tick(landing, db)
    elapsed = time.perf_counter() - started
    Path(note).write_text(json.dumps(result["steps_s"]))
    return elapsed


def query(db: str) -> float:
    """Hourly goodput by team over the last 7 days of data: seconds of the query itself, in a process that has
    imported the library and knows where the data ends (as a notebook has)."""
    from pipelines.explain.windows import data_span
    from pipelines.semantic.query import query as semantic_query
    from pipelines.warehouse.connection import connect

    with connect(db, read_only=True) as con:
        end = data_span(con)[1]
    started = time.perf_counter()
    semantic_query("goodput", by=["team"], grain="hour", start=end - timedelta(days=7), end=end, db=db)
    return time.perf_counter() - started


def explain_last_day(db: str) -> float:
    """`goodput explain`'s default: the last 24 hours against the 7 days before, after the imports."""
    from pipelines.explain.run import explain_db

    started = time.perf_counter()
    explain_db(db)
    return time.perf_counter() - started


def render_report(db: str, name: str, out: str) -> float:
    """Seconds to write one report page from the warehouse, after the imports (as the schedule's process runs it)."""
    from pipelines.reports.run import write_report
    from pipelines.warehouse.connection import connect

    with connect(db, read_only=True) as con:
        return write_report(con, name, Path(out)).render_s


def add_tick(landing: Path, number: int) -> tuple[str, str]:
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
    add_ends(con, landing, end, number)
    con.close()
    if number == 0:
        add_policy_change(landing, end)
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


def add_ends(con, landing: Path, end, number: int) -> None:
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


def add_policy_change(landing: Path, end) -> None:
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


def write_scrapes(path: Path, samples: int) -> None:
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


def parse_fast(path: str, warm: bool = True) -> float:
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
