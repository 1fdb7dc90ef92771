"""Node and framework deploys: the nodes or jobs on the new version against those still on the old one."""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from pipelines.detect.cohorts.common import NODE_CHANGES, against_the_rest, since_change, with_ends
from pipelines.detect.config import DetectionConfig
from pipelines.warehouse.connection import fetch


def node_cohort_hits(con, found: pl.DataFrame, config: DetectionConfig, window) -> pl.DataFrame:
    """Software faults (application XIDs and software-caused failures) per GPU-minute on the changed nodes against
    every other node, since the change. A change to (nearly) every node leaves no unchanged nodes to hold it
    against: the changed nodes' own `fault_baseline_h` before it are the baseline then."""
    found = with_ends(found, config)
    node_changes = found.filter(pl.col("change_type").is_in(NODE_CHANGES) & pl.col("scope_node_ids").is_not_null())
    if node_changes.is_empty():
        return pl.DataFrame()
    scope = _until_replaced(
        node_changes.select(
            "change_id", "changed_at", "ends_at", "component", pl.col("scope_node_ids").str.split(",").alias("node_id")
        ).explode("node_id")
    )
    minutes = fetch(
        con,
        "select node_id, minute_at, gpus_reporting::double as exposure, "
        "(software_xid_gpus + software_failures)::double as faults "
        "from marts.fct_health__node_minutes where not is_maintenance and minute_at >= $1 and minute_at < $2",
        [min(node_changes["changed_at"]), window[1]],
    )
    cohort = scope.join(minutes, on="node_id").filter(since_change())
    sums = against_the_rest(cohort, minutes, ["exposure", "faults"])
    settings = config.cohort
    wide = node_changes.filter(  # only these can leave the rest thin: read their own past for them alone
        pl.col("scope_node_ids").str.split(",").list.len()
        >= (1 - settings.fault_min_rest_share) * max(1, minutes["node_id"].n_unique())
    )
    sums = sums.join(_own_before(con, wide, settings.fault_baseline_h), on="change_id", how="left")
    thin = pl.col("exposure_rest") < settings.fault_min_rest_share * pl.col("exposure_all")
    rate = pl.col("faults_cohort") / pl.col("exposure_cohort")
    rest = (  # one fault of slack: a quiet fleet is not zero
        pl.when(thin)
        .then((pl.col("faults_before") + 1) / pl.col("exposure_before"))
        .otherwise((pl.col("faults_rest") + 1) / pl.col("exposure_rest"))
    )
    return sums.filter(
        (pl.col("faults_cohort") >= settings.min_events) & (rate >= settings.fault_rate_ratio * rest)
    ).select("change_id", "minute_at", (rate * 60).alias("value"), (rest * 60).alias("baseline"))


def _until_replaced(scope: pl.DataFrame) -> pl.DataFrame:
    """Each changed node counts for its change until a newer change of the same component reaches it (the node no
    longer runs that version): a rollout to every node is not blamed on an older upgrade of a few of them."""
    newer = (
        scope.join(
            scope.select("node_id", "component", pl.col("changed_at").alias("newer_at")), on=["node_id", "component"]
        )
        .filter(pl.col("newer_at") > pl.col("changed_at"))
        .group_by("change_id", "node_id")
        .agg(pl.col("newer_at").min())
    )
    return (
        scope.join(newer, on=["change_id", "node_id"], how="left")
        .with_columns(pl.min_horizontal("ends_at", "newer_at").alias("ends_at"))
        .drop("newer_at", "component")
    )


def _own_before(con, node_changes: pl.DataFrame, hours: float) -> pl.DataFrame:
    """Per change: the software faults and GPU-minutes of its nodes in the `hours` before it."""
    rows = []
    for change in node_changes.select("change_id", "changed_at", "scope_node_ids").iter_rows(named=True):
        exposure, faults = fetch(
            con,
            "select coalesce(sum(gpus_reporting), 0)::double as exposure, "
            "coalesce(sum(software_xid_gpus + software_failures), 0)::double as faults "
            "from marts.fct_health__node_minutes where not is_maintenance and minute_at >= $1 and minute_at < $2 "
            "and list_contains($3, node_id)",
            [change["changed_at"] - timedelta(hours=hours), change["changed_at"], change["scope_node_ids"].split(",")],
        ).row(0)
        rows.append((change["change_id"], exposure, faults))
    schema = {"change_id": pl.String, "exposure_before": pl.Float64, "faults_before": pl.Float64}
    return pl.DataFrame(rows, schema=schema, orient="row")


def framework_cohort_hits(con, found: pl.DataFrame, config: DetectionConfig, window) -> pl.DataFrame:
    """Step time against the reference for workers on the new framework version against every other version, in
    the minutes the new version ran, once `min_worker_minutes` of it are in."""
    sums = _framework_sums(con, found, config, window)
    if sums.is_empty():
        return sums
    return sums.filter(
        (pl.col("worker_minutes_cohort") >= config.cohort.min_worker_minutes)
        & (pl.col("ratio") >= config.cohort.step_time_ratio)
    ).select("change_id", "minute_at", pl.col("ratio").alias("value"), pl.lit(1.0).alias("baseline"))


def framework_first_jobs_hits(con, found: pl.DataFrame, config: DetectionConfig, window) -> pl.DataFrame:
    """The same comparison on the first worker-minutes of a new version, before the page's `min_worker_minutes`:
    a new image reaches a team's jobs only as they start, so its first quarter hour can hold a couple of
    worker-minutes. A slowdown far outside the spread of the other versions' worker-minutes is trusted on fewer
    of them: at least `first_jobs_min_worker_minutes`, and enough that the mean's excess over the reference is
    `first_jobs_z` standard errors (the other versions' spread of step time against the reference per
    worker-minute, at least `first_jobs_noise_floor`): (z x spread / (ratio - 1))^2 worker-minutes."""
    sums = _framework_sums(con, found, config, window)
    if sums.is_empty():
        return sums
    settings = config.cohort
    mean = pl.col("per_minute_rest") / pl.col("rated_rest")
    spread = (pl.col("per_minute_sq_rest") / pl.col("rated_rest") - mean**2).clip(lower_bound=0).sqrt()
    noise = pl.max_horizontal(spread.fill_nan(None), pl.lit(settings.first_jobs_noise_floor))
    needed = (settings.first_jobs_z * noise / (pl.col("ratio") - 1)) ** 2
    return sums.filter(
        (pl.col("worker_minutes_cohort") >= settings.first_jobs_min_worker_minutes)
        & (pl.col("ratio") >= settings.step_time_ratio)
        & (pl.col("worker_minutes_cohort") >= needed)
    ).select("change_id", "minute_at", pl.col("ratio").alias("value"), pl.lit(1.0).alias("baseline"))


def _framework_sums(con, found: pl.DataFrame, config: DetectionConfig, window) -> pl.DataFrame:
    """Running sums since each framework image change, of its version's worker-minutes against every other
    version's, with `ratio`: the cohort's step time per reference step time over the rest's."""
    found = with_ends(found, config)
    images = found.filter(pl.col("change_type") == "framework_image")
    if images.is_empty():
        return pl.DataFrame()
    workers = fetch(
        con,
        "select minute_at, framework_version, count(*)::double as worker_minutes, "
        "sum(step_time_total_s) as step_s, sum(reference_step_total_s) as reference_s, "
        "count(step_time_total_s / nullif(reference_step_total_s, 0))::double as rated, "
        "sum(step_time_total_s / nullif(reference_step_total_s, 0)) as per_minute, "
        "sum((step_time_total_s / nullif(reference_step_total_s, 0)) ^ 2) as per_minute_sq "
        "from marts.fct_training__worker_minutes where minute_at >= $1 and minute_at < $2 group by all",
        [min(images["changed_at"]), window[1]],
    )
    cohort = (
        images.select("change_id", "changed_at", "ends_at", "to_version")
        .join(workers, left_on="to_version", right_on="framework_version")
        .filter(since_change())
    )
    measures = ["worker_minutes", "step_s", "reference_s", "rated", "per_minute", "per_minute_sq"]
    sums = against_the_rest(cohort, workers.with_columns(pl.col(measures).fill_null(0.0)), measures)
    ratio = (pl.col("step_s_cohort") / pl.col("reference_s_cohort")) / (
        pl.col("step_s_rest") / pl.col("reference_s_rest")
    )
    return sums.with_columns(ratio.alias("ratio"))
