"""Chargeback against the bill: by hand on the tiny fleet (tests/fixtures/tiny_fleet.py works the numbers out), and
to the cent for every team-day and region-day of the simulated fleet."""

import polars as pl
import pytest

from pipelines.reports.data import frame
from pipelines.reports.finance import by_team_and_kind, productive_cost, reconciliation
from pipelines.semantic.losses import family_of

FAILURE_FAMILIES = ("hardware", "software", "network", "data_io", "scheduling", "user", "planned")


def _rows(con) -> pl.DataFrame:
    return frame(con, "select * from marts.fct_cost__chargeback_daily")


def _bills(con) -> pl.DataFrame:
    return frame(
        con, "select cost_date::timestamp as cost_date, region, sku, cost_usd from staging.stg_cost__region_sku_days"
    )


@pytest.mark.parametrize(
    ("team", "usd"),
    [
        ("t1", 3.75),  # A's GPU for the hour (its fault minute included) and B's 30 minutes: 1.5 GPU-h x 2.5 USD
        ("t2", 2.50),  # C's GPU for the hour, the maintenance minutes it held included
        ("unallocated", 3.75),  # n1-g1 after B failed and n2-g1 all hour: 1.5 GPU-h
        ("none", 230.0),  # the 92 billed GPU-hours of the day outside the observed hour
    ],
)
def test_each_team_is_charged_its_gpu_hours_at_the_bills_rate(tiny_db, team, usd):
    rows = _rows(tiny_db)
    assert rows.filter(pl.col("team") == team)["spend_usd"].sum() == pytest.approx(usd, abs=1e-9)


def test_spend_kinds_by_hand(tiny_db):
    table = by_team_and_kind(_rows(tiny_db))
    t1 = table.filter(pl.col("team") == "t1").row(0, named=True)
    assert t1["productive"] == pytest.approx(68.6 / 60 * 2.5)  # A 48.8 + B 19.8 productive GPU-minutes
    assert t1["wasted"] == pytest.approx(10 / 60 * 2.5)  # B's 10 minutes after its last checkpoint
    assert t1["hardware"] == pytest.approx(1 / 60 * 2.5)  # the ECC minute on A's GPU
    t2 = table.filter(pl.col("team") == "t2").row(0, named=True)
    assert t2["wasted"] == pytest.approx(37.5 / 60 * 2.5)  # the notebook held its GPU idle for 37.5 GPU-minutes
    assert t2["maintenance"] == pytest.approx(10 / 60 * 2.5)
    idle = table.filter(pl.col("team") == "unallocated").row(0, named=True)
    assert idle["idle"] == pytest.approx(80 / 60 * 2.5)  # 60 with demand waiting, 20 without


def test_work_lost_to_a_failure_is_charged_by_the_failures_family(tiny_db):
    rows = _rows(tiny_db).filter(pl.col("team") == "t1", pl.col("category").str.starts_with("lost_after_failure_"))
    lost = rows.filter(pl.col("gpu_h") != 0).select("category", "family", "spend_kind", "gpu_h").rows()
    # B's 10 minutes after its last checkpoint, to a CUDA out-of-memory in its own code: workload, not software
    assert lost == [("lost_after_failure_user", "workload", "wasted", pytest.approx(10 / 60))]


# each chargeback category and the loss reason it holds (named for readers of the bill, not as the reasons are)
CATEGORY_REASON = {
    "maintenance": "maintenance",
    "hardware_fault": "gpu_fault",
    "no_telemetry": "unobserved",
    "unobserved": "unobserved",
    "idle_with_demand": "idle_with_demand",
    "idle_no_demand": "no_demand",
    **{f"lost_after_failure_{f}": f"lost_after_failure_{f}" for f in FAILURE_FAMILIES},
    "no_progress": "no_progress",
    "held_idle": "held_idle",
    "startup": "startup",
    "checkpoint_overhead": "checkpoint_overhead",
    "checkpoint_slow_write": "checkpoint",
    "dataloader_wait": "dataloader",
    "grad_sync_wait": "grad_sync",
    "compute_throttled": "compute_throttled",
    "compute_slow": "compute_slow",
    "stalled": "stalled",
    "telemetry_gap": "telemetry_gap",
    "other_step_loss": "other",
}


def test_each_category_carries_the_family_of_its_loss_reason(tiny_db):
    families = dict(_rows(tiny_db).select("category", "family").unique().iter_rows())
    assert families.pop("productive") is None
    assert families == {c: family_of(r) for c, r in CATEGORY_REASON.items()}


def test_cost_per_productive_gpu_hour_by_hand(tiny_db):
    cost = productive_cost(_rows(tiny_db), ["team"]).filter(pl.col("team") == "t1").row(0, named=True)
    assert cost["usd_per_productive_gpu_h"] == pytest.approx(3.75 / (68.6 / 60))


def test_the_tiny_bill_reconciles_and_no_gpu_hour_is_lost(tiny_db):
    rows = _rows(tiny_db)
    recon = reconciliation(rows, _bills(tiny_db))
    assert recon["bill_usd"].to_list() == [240.0]
    assert abs(recon["difference_usd"][0]) < 1e-9
    # 96 billed GPU-hours: 4 observed (every paid GPU-minute once) + 92 unobserved
    assert rows["gpu_h"].sum() == pytest.approx(96.0)
    assert rows.filter(pl.col("category") != "unobserved")["gpu_h"].sum() == pytest.approx(240 / 60)


def test_every_region_day_and_team_day_adds_up_to_the_bill_to_the_cent(incidents_db):
    rows = _rows(incidents_db)
    bills = _bills(incidents_db)
    recon = reconciliation(rows, bills)
    assert recon.height == bills.select("cost_date", "region").unique().height > 0
    assert recon["difference_usd"].abs().max() < 0.005
    # team-days: summing every team's categories per day gives the day's bill over all regions
    team_days = rows.group_by("cost_date", "team").agg(pl.col("spend_usd").sum())
    per_day = team_days.group_by("cost_date").agg(pl.col("spend_usd").sum()).sort("cost_date")
    billed = bills.group_by("cost_date").agg(pl.col("cost_usd").sum()).sort("cost_date")
    assert (per_day["spend_usd"] - billed["cost_usd"]).abs().max() < 0.005
    # each observed GPU-minute is charged once: the categories add up to the paid GPU-hours of the north star
    paid = incidents_db.execute("select sum(paid_gpu_min) / 60 from marts.fct_goodput__daily").fetchall()[0][0]
    assert rows.filter(pl.col("category") != "unobserved")["gpu_h"].sum() == pytest.approx(paid, rel=1e-9)


def test_finance_csv_beside_the_page_holds_the_same_numbers(reports_dir, report_db):
    import duckdb

    csv = pl.read_csv(reports_dir / "finance_chargeback.csv")
    con = duckdb.connect(str(report_db), read_only=True)
    total = con.execute("select sum(spend_usd) from marts.fct_cost__chargeback_daily").fetchall()[0][0]
    con.close()
    assert csv["spend_usd"].sum() == pytest.approx(total)
    assert (reports_dir / "finance_reconciliation.csv").exists()
