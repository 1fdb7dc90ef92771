"""node_exporter scrapes (Prometheus text) to node_telemetry and network_telemetry (InfiniBand ports).

node_exporter exports counters since boot; a minute's CPU busy share, disk and link throughput are the differences
between two scrapes of the same node over the seconds between them. A node's first scrape is the base of the next
rate and gives no row of its own; a counter that went down (a reboot, a driver reload) gives no rate for that
interval. The node is named by node_uname_info's nodename, else `--node`, else the scrapes' folder; its kernel by the
release label. Without MemAvailable (old kernels) used memory is total - free - buffers - cached."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import polars as pl

from pipelines.adapters import prometheus
from pipelines.adapters.base import Adapted, bad_lines, scrape_time

SUFFIXES = (".prom", ".txt", ".metrics")
OPTIONS = ("at", "node")
IDLE_MODES = ["idle", "iowait"]
NO_ROWS_HINT = "a node's first scrape is only the base of its rates: give at least two scrapes of each node"
USED = {
    "node_cpu_seconds_total",
    "node_memory_MemTotal_bytes",
    "node_memory_MemAvailable_bytes",
    "node_memory_MemFree_bytes",
    "node_memory_Buffers_bytes",
    "node_memory_Cached_bytes",
    "node_disk_read_bytes_total",
    "node_disk_written_bytes_total",
    "node_uname_info",
    "node_infiniband_port_data_received_bytes_total",
    "node_infiniband_port_data_transmitted_bytes_total",
    "node_infiniband_port_discards_received_total",
    "node_infiniband_port_packets_received_total",
}


def adapt(paths: list[Path], at: datetime | None = None, node: str | None = None) -> Adapted:
    result = Adapted()
    nodes, ports = [], []
    for path in paths:
        parsed = prometheus.read_exposition(path)
        bad = bad_lines(path, parsed.bad, pl.col("reason"))
        used = parsed.samples.filter(pl.col("name").is_in(list(USED)))
        ignored = parsed.samples.height - used.height
        result = result.add(Adapted(quarantine=bad, read=parsed.samples.height + bad.height, ignored=ignored, files=1))
        host, port = _scrape(used, node or path.parent.name, scrape_time(path, at))
        nodes.append(host)
        ports.append(port)
    if nodes:
        result.tables = {
            "node_telemetry": _node_rates(pl.concat(nodes, how="diagonal_relaxed")),
            "network_telemetry": _port_rates(pl.concat(ports, how="diagonal_relaxed")),
        }
    return result


def _scrape(samples: pl.DataFrame, host: str, taken: datetime) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One row for the node (counter totals and gauges) and one per InfiniBand port, at the scrape's time."""
    labelled = prometheus.with_labels(samples, ["mode", "nodename", "release", "device", "port"])

    def total(name: str, where: pl.Expr | None = None) -> pl.Expr:
        chosen = pl.col("name") == name
        return pl.col("value").filter(chosen if where is None else chosen & where).sum()

    def one(name: str) -> pl.Expr:
        return pl.col("value").filter(pl.col("name") == name).first()

    node = labelled.select(
        total("node_cpu_seconds_total").alias("cpu_total_s"),
        total("node_cpu_seconds_total", pl.col("mode").is_in(IDLE_MODES)).alias("cpu_idle_s"),
        (
            (
                one("node_memory_MemTotal_bytes")
                - pl.coalesce(
                    one("node_memory_MemAvailable_bytes"),
                    one("node_memory_MemFree_bytes")
                    + one("node_memory_Buffers_bytes")
                    + one("node_memory_Cached_bytes"),
                )
            )
            / 2**30
        ).alias("mem_used_gib"),
        total("node_disk_read_bytes_total").alias("disk_read_b"),
        total("node_disk_written_bytes_total").alias("disk_written_b"),
        pl.col("nodename").filter(pl.col("name") == "node_uname_info").first().alias("node_id"),
        pl.col("release").filter(pl.col("name") == "node_uname_info").first().alias("kernel_version"),
    )
    node = node.with_columns(pl.coalesce("node_id", pl.lit(host)), pl.lit(taken).alias("at"))
    ib = labelled.filter(pl.col("name").str.starts_with("node_infiniband_port_"))
    ports = ib.pivot(on="name", index=["device", "port"], values="value", aggregate_function="sum")
    ports = ports.with_columns(pl.lit(node["node_id"][0]).alias("node_id"), pl.lit(taken).alias("at"))
    return node, ports


def _rate(column: str, keys: list[str]) -> pl.Expr:
    """Per second between this scrape and the node's (or port's) previous one; null after a counter reset."""
    step = pl.col(column) - pl.col(column).shift(1).over(keys)
    seconds = (pl.col("at") - pl.col("at").shift(1).over(keys)).dt.total_microseconds() / 1e6
    return pl.when((step >= 0) & (seconds > 0)).then(step / seconds)


def _node_rates(nodes: pl.DataFrame) -> pl.DataFrame:
    keys = ["node_id"]
    nodes = nodes.sort("node_id", "at")
    cpu_moved = pl.col("cpu_total_s") - pl.col("cpu_total_s").shift(1).over(keys)
    busy = pl.when(cpu_moved > 0).then(
        1 - (pl.col("cpu_idle_s") - pl.col("cpu_idle_s").shift(1).over(keys)) / cpu_moved
    )
    rows = nodes.with_columns(
        (100 * busy).clip(0, 100).alias("cpu_util_pct"),
        (_rate("disk_read_b", keys) / 1e6).alias("disk_read_mb_s"),
        (_rate("disk_written_b", keys) / 1e6).alias("disk_write_mb_s"),
        pl.col("at").dt.truncate("1m").alias("ts"),
        pl.lit("ok").alias("health"),  # the exporter answered; a node that did not is a telemetry gap
        pl.int_range(pl.len()).over(keys).alias("_nth"),
    )
    rows = rows.filter(pl.col("_nth") > 0)
    return rows.group_by("node_id", "ts").agg(
        pl.col("cpu_util_pct").mean(),
        pl.col("mem_used_gib").last(),
        pl.col("disk_read_mb_s").mean(),
        pl.col("disk_write_mb_s").mean(),
        pl.col("kernel_version").last(),
        pl.col("health").last(),
    )


def _port_rates(ports: pl.DataFrame) -> pl.DataFrame:
    keys = ["node_id", "device", "port"]
    for column in USED:
        if column.startswith("node_infiniband_port_") and column not in ports.columns:
            ports = ports.with_columns(pl.lit(None, pl.Float64).alias(column))
    ports = ports.sort(*keys, "at")
    rows = ports.with_columns(
        (_rate("node_infiniband_port_data_received_bytes_total", keys) * 8 / 1e9).alias("rx_gbit_s"),
        (_rate("node_infiniband_port_data_transmitted_bytes_total", keys) * 8 / 1e9).alias("tx_gbit_s"),
        pl.when(_rate("node_infiniband_port_packets_received_total", keys) > 0)
        .then(
            100
            * _rate("node_infiniband_port_discards_received_total", keys)
            / _rate("node_infiniband_port_packets_received_total", keys)
        )
        .alias("packet_loss_pct"),
        pl.concat_str("device", pl.lit("/"), "port").alias("link_id"),
        pl.col("at").dt.truncate("1m").alias("ts"),
        pl.int_range(pl.len()).over(keys).alias("_nth"),
    )
    rows = rows.filter(pl.col("_nth") > 0)
    return rows.group_by("node_id", "link_id", "ts").agg(
        pl.col("rx_gbit_s").mean(), pl.col("tx_gbit_s").mean(), pl.col("packet_loss_pct").mean()
    )
