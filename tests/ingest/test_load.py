"""Ingest keeps every row: good rows in raw, bad rows in quarantine with their reason, counts that reconcile."""

from datetime import date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.contracts import SOURCES
from pipelines.ingest.load import load_source, reconciliation
from pipelines.warehouse.connection import connect

NOW = datetime(2026, 3, 10, 12, 0)
T0 = datetime(2026, 3, 2, 10, 0)


def write(landing: Path, source: str, day: str, rows: list[dict], schema: pa.Schema | None = None) -> Path:
    folder = landing / source / f"date={day}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "part-0.parquet"
    schema = schema or SOURCES[source].arrow_schema()
    nullable = pa.schema([f.with_nullable(True) for f in schema])  # adapters may write anything, nulls included
    pq.write_table(pa.Table.from_pylist(rows, schema=nullable), path)
    return path


def inventory_rows():
    return [
        {
            "gpu_id": f"n1-g{i}",
            "snapshot_date": date(2026, 3, 2),
            "gpu_uuid": None,
            "gpu_index": i,
            "node_id": "n1",
            "rack_id": "r1",
            "region": "us-east",
            "sku": "H100-SXM-80GB",
            "gpu_mem_mib": 81559,
            "tdp_w": 700.0,
        }
        for i in range(2)
    ]


def gpu_row(gpu="n1-g0", minute=0, **overrides):
    row = {
        "ts": T0 + timedelta(minutes=minute),
        "gpu_id": gpu,
        "node_id": "n1",
        "gpu_util_pct": 90.0,
        "sm_active_pct": 70.0,
        "tensor_active_pct": 40.0,
        "dram_active_pct": 30.0,
        "mem_used_mib": 60000,
        "power_w": 600.0,
        "temp_c": 60.0,
        "sm_clock_mhz": 1900.0,
        "ecc_corrected_count": 0,
        "ecc_uncorrected_count": 0,
        "xid": None,
        "throttle_reasons": 0,
    }
    row.update(overrides)
    return row


@pytest.fixture()
def con(tmp_path):
    connection = connect(tmp_path / "w.duckdb")
    yield connection
    connection.close()


def load(con, landing, name):
    if name == "gpu_telemetry":
        load_source(con, SOURCES["inventory"], landing, now=NOW)
    return load_source(con, SOURCES[name], landing, now=NOW)


@pytest.mark.parametrize(
    ("bad_row", "reason"),
    [
        (gpu_row(minute=1, power_w=-5.0), "out of range: power_w below 0"),  # negative power is impossible
        (gpu_row(minute=1, temp_c=500.0), "out of range: temp_c above 130"),  # 500 degC is impossible
        (gpu_row(gpu="n9-g0", minute=1), "unknown gpu_id: not in inventory"),  # GPU missing from inventory
        (gpu_row(minute=0), "duplicate key: repeated in the file"),  # same GPU and minute twice
        (gpu_row(minute=1, ts=NOW + timedelta(days=1)), "future: ts is after the load time"),
        (gpu_row(minute=1, gpu_util_pct=None), "null: gpu_util_pct is required"),
        (gpu_row(minute=1, gpu_util_pct=101.0), "out of range: gpu_util_pct above 100"),
    ],
)
def test_each_broken_rule_lands_in_quarantine_with_its_reason(tmp_path, con, bad_row, reason):
    write(tmp_path, "inventory", "2026-03-02", inventory_rows())
    write(tmp_path, "gpu_telemetry", "2026-03-02", [gpu_row(minute=0), bad_row, gpu_row(gpu="n1-g1")])
    report = load(con, tmp_path, "gpu_telemetry")
    assert (report.landed, report.accepted, report.quarantined) == (3, 2, 1)
    quarantined = con.execute("select source, file, row_number, reason from raw._quarantine").fetchall()
    assert quarantined == [("gpu_telemetry", str(tmp_path / "gpu_telemetry/date=2026-03-02/part-0.parquet"), 2, reason)]
    totals = reconciliation(con, SOURCES["gpu_telemetry"])
    assert totals["landed"] == totals["accepted"] + totals["quarantined"] == 3


def test_wrong_types_are_quarantined_not_crashed_on(tmp_path, con):
    # an adapter wrote power as text: values that parse are kept, values that do not are quarantined
    schema = SOURCES["gpu_telemetry"].arrow_schema()
    schema = schema.set(schema.get_field_index("power_w"), pa.field("power_w", pa.string()))
    rows = [gpu_row(minute=0, power_w="612.5"), gpu_row(minute=1, power_w="lots")]
    write(tmp_path, "inventory", "2026-03-02", inventory_rows())
    write(tmp_path, "gpu_telemetry", "2026-03-02", rows, schema)
    report = load(con, tmp_path, "gpu_telemetry")
    assert (report.accepted, report.quarantined) == (1, 1)
    assert con.execute("select power_w from raw.gpu_telemetry").fetchall() == [(612.5,)]
    record, reason = con.execute("select record ->> 'power_w', reason from raw._quarantine").fetchone()
    assert record == "lots" and reason == "bad type: power_w is not double"


def test_missing_required_column_quarantines_every_row_of_the_file(tmp_path, con):
    table = pa.Table.from_pylist([gpu_row(minute=m) for m in range(3)], schema=SOURCES["gpu_telemetry"].arrow_schema())
    folder = tmp_path / "gpu_telemetry" / "date=2026-03-02"
    folder.mkdir(parents=True)
    pq.write_table(table.drop_columns(["power_w"]), folder / "part-0.parquet")
    write(tmp_path, "inventory", "2026-03-02", inventory_rows())
    report = load(con, tmp_path, "gpu_telemetry")
    assert (report.landed, report.quarantined) == (3, 3)
    assert {r[0] for r in con.execute("select reason from raw._quarantine").fetchall()} == {"missing column: power_w"}


def test_missing_optional_column_loads_as_null(tmp_path, con):
    table = pa.Table.from_pylist([gpu_row()], schema=SOURCES["gpu_telemetry"].arrow_schema())
    folder = tmp_path / "gpu_telemetry" / "date=2026-03-02"
    folder.mkdir(parents=True)
    pq.write_table(table.drop_columns(["tensor_active_pct"]), folder / "part-0.parquet")
    write(tmp_path, "inventory", "2026-03-02", inventory_rows())
    assert load(con, tmp_path, "gpu_telemetry").accepted == 1
    assert con.execute("select tensor_active_pct from raw.gpu_telemetry").fetchall() == [(None,)]


def test_an_unreadable_file_is_reported_by_name_and_the_rest_still_loads(tmp_path, con):
    write(tmp_path, "inventory", "2026-03-02", inventory_rows())
    write(tmp_path, "gpu_telemetry", "2026-03-02", [gpu_row(minute=0)])
    good = write(tmp_path, "gpu_telemetry", "2026-03-03", [gpu_row(minute=2000)])
    corrupt = tmp_path / "gpu_telemetry" / "date=2026-03-02" / "part-1.parquet"
    corrupt.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])  # truncated mid-file
    report = load(con, tmp_path, "gpu_telemetry")
    assert report.accepted == 2
    assert [r.file for r in report.unreadable] == [str(corrupt)]
    assert "Error" in report.unreadable[0].error
    assert reconciliation(con, SOURCES["gpu_telemetry"])["unreadable_files"] == 1


def test_loading_twice_changes_nothing(tmp_path, con):
    write(tmp_path, "inventory", "2026-03-02", inventory_rows())
    write(tmp_path, "gpu_telemetry", "2026-03-02", [gpu_row(minute=m) for m in range(5)])
    first = load(con, tmp_path, "gpu_telemetry")
    second = load(con, tmp_path, "gpu_telemetry")
    assert first.accepted == 5 and second.results == [] and second.files_skipped == 1
    assert con.execute("select count(*) from raw.gpu_telemetry").fetchone()[0] == 5


def test_rewriting_identical_bytes_is_not_a_new_load(tmp_path, con):
    write(tmp_path, "inventory", "2026-03-02", inventory_rows())
    path = write(tmp_path, "gpu_telemetry", "2026-03-02", [gpu_row(minute=m) for m in range(5)])
    load(con, tmp_path, "gpu_telemetry")
    path.write_bytes(path.read_bytes())  # a re-run of a deterministic simulation: new mtime, same content
    again = load(con, tmp_path, "gpu_telemetry")
    assert again.results == [] and again.files_skipped == 1


def test_new_and_late_files_are_picked_up_incrementally(tmp_path, con):
    write(tmp_path, "inventory", "2026-03-02", inventory_rows())
    write(tmp_path, "gpu_telemetry", "2026-03-03", [gpu_row(minute=1440 + m) for m in range(4)])
    assert load(con, tmp_path, "gpu_telemetry").accepted == 4
    # the next day lands, and a late file for an earlier day turns up beside it
    write(tmp_path, "gpu_telemetry", "2026-03-04", [gpu_row(minute=2880 + m) for m in range(3)])
    write(tmp_path, "gpu_telemetry", "2026-03-02", [gpu_row(minute=m) for m in range(2)])
    report = load(con, tmp_path, "gpu_telemetry")
    assert sorted(r.accepted for r in report.results) == [2, 3]
    assert report.files_skipped == 1
    assert con.execute("select count(*) from raw.gpu_telemetry").fetchone()[0] == 9


def test_a_late_file_repeating_loaded_rows_is_quarantined_as_duplicate(tmp_path, con):
    write(tmp_path, "inventory", "2026-03-02", inventory_rows())
    write(tmp_path, "gpu_telemetry", "2026-03-02", [gpu_row(minute=m) for m in range(3)])
    load(con, tmp_path, "gpu_telemetry")
    folder = tmp_path / "gpu_telemetry" / "date=2026-03-02"
    pq.write_table(
        pa.Table.from_pylist([gpu_row(minute=2), gpu_row(minute=3)], schema=SOURCES["gpu_telemetry"].arrow_schema()),
        folder / "late.parquet",
    )
    report = load(con, tmp_path, "gpu_telemetry")
    assert (report.accepted, report.quarantined) == (1, 1)
    assert con.execute("select reason from raw._quarantine").fetchone()[0] == "duplicate key: already loaded"


def test_a_replaced_file_replaces_its_rows(tmp_path, con):
    write(tmp_path, "inventory", "2026-03-02", inventory_rows())
    write(tmp_path, "gpu_telemetry", "2026-03-02", [gpu_row(minute=m) for m in range(3)])
    load(con, tmp_path, "gpu_telemetry")
    write(tmp_path, "gpu_telemetry", "2026-03-02", [gpu_row(minute=m, power_w=-1.0) for m in range(2)])
    load(con, tmp_path, "gpu_telemetry")
    totals = reconciliation(con, SOURCES["gpu_telemetry"])
    assert (totals["landed"], totals["accepted"], totals["quarantined"]) == (2, 0, 2)


def test_zoned_timestamps_land_as_utc(tmp_path, con):
    schema = SOURCES["gpu_telemetry"].arrow_schema()
    schema = schema.set(0, pa.field("ts", pa.timestamp("us", tz="Europe/Paris")))
    from datetime import UTC

    row = gpu_row(ts=datetime(2026, 3, 2, 10, 0, tzinfo=UTC))
    write(tmp_path, "inventory", "2026-03-02", inventory_rows())
    write(tmp_path, "gpu_telemetry", "2026-03-02", [row], schema)
    load(con, tmp_path, "gpu_telemetry")
    assert con.execute("select ts from raw.gpu_telemetry").fetchone()[0] == datetime(2026, 3, 2, 10, 0)


def test_a_contract_that_gained_a_column_extends_an_existing_warehouse(tmp_path, con):
    write(tmp_path, "inventory", "2026-03-02", inventory_rows())
    load_source(con, SOURCES["inventory"], tmp_path, now=NOW)
    con.execute("alter table raw.inventory drop column rack_id")  # as built by an older contract
    write(tmp_path, "inventory", "2026-03-03", [{**r, "snapshot_date": date(2026, 3, 3)} for r in inventory_rows()])
    report = load_source(con, SOURCES["inventory"], tmp_path, now=NOW)
    assert report.accepted == 2
    assert con.execute("select count(*) filter (where rack_id = 'r1') from raw.inventory").fetchone()[0] == 2


def test_the_same_landing_named_another_way_loads_nothing_again(tmp_path, con, monkeypatch):
    """Built from an absolute path, ticked from a relative one (or the other way round): the files are the same."""
    write(tmp_path, "inventory", "2026-03-02", inventory_rows())
    write(tmp_path, "gpu_telemetry", "2026-03-02", [gpu_row(minute=m) for m in range(5)])
    assert load(con, tmp_path, "gpu_telemetry").accepted == 5
    monkeypatch.chdir(tmp_path.parent)
    again = load(con, Path(tmp_path.name), "gpu_telemetry")
    assert again.results == [] and again.files_skipped == 1
    assert con.execute("select count(*) from raw._quarantine").fetchone()[0] == 0


def test_a_moved_landing_loads_nothing_again(tmp_path):
    """Files are known by their place in the landing: a landing copied to a bigger disk and built again into the
    same warehouse skips every file, instead of quarantining all of its rows as duplicates."""
    import shutil

    from pipelines.orchestration.build import build
    from tests.fixtures.tiny_fleet import write_tiny_fleet

    write_tiny_fleet(tmp_path / "landing")
    build(tmp_path / "landing", tmp_path / "w.duckdb", progress=False, models=False)
    shutil.copytree(tmp_path / "landing", tmp_path / "moved")
    loads = build(tmp_path / "moved", tmp_path / "w.duckdb", progress=False, models=False)
    assert all(x.new_files == 0 and x.quarantined == 0 for x in loads) and sum(x.skipped_files for x in loads) > 0


def test_an_event_loaded_earlier_is_a_duplicate_whatever_its_time_and_a_new_one_loads(tmp_path, con):
    """A key without the time column (job, attempt, event type): the check is bounded by the batch's range of each
    key column, and still finds B's start loaded a day earlier, re-sent with another time; C's start is new."""

    def event(job, minutes, kind="started"):
        return {"event_at": T0 + timedelta(minutes=minutes), "job_id": job, "attempt": 0, "event_type": kind}

    write(tmp_path, "scheduler_events", "2026-03-02", [event("A", 0), event("B", 5), event("Z", 9)])
    assert load(con, tmp_path, "scheduler_events").accepted == 3
    late = write(tmp_path, "scheduler_events", "2026-03-03", [event("B", 1440), event("C", 1445)])
    report = load(con, tmp_path, "scheduler_events")
    assert (report.accepted, report.quarantined) == (1, 1)
    assert con.execute("select file, reason from raw._quarantine").fetchall() == [
        (str(late), "duplicate key: already loaded")
    ]
    assert con.execute("select job_id from raw.scheduler_events order by all").fetchall() == [
        ("A",),
        ("B",),
        ("C",),
        ("Z",),
    ]
