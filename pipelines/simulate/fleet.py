"""The fleet: regions, racks, nodes and GPUs with their SKU, laid out from a scenario's fleet spec."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import pyarrow as pa

from pipelines.config import read_yaml
from pipelines.contracts.sources import INVENTORY
from pipelines.simulate.scenario import FleetSpec

NODES_PER_RACK = 4


def region_codes(regions: list[str]) -> list[str]:
    """Short, readable, distinct prefixes for node ids: the first part of the name and the first letter of each
    alphabetic part after it, numbers kept whole (us-east -> use, eu-west-1 -> euw1, ap-south -> aps); the whole
    name, lowercased, for regions whose short codes would collide."""
    short = []
    for region in regions:
        first, *rest = region.lower().split("-")
        short.append(first + "".join(part if part.isdigit() else part[:1] for part in rest))
    return [code if short.count(code) == 1 else region.lower() for code, region in zip(short, regions, strict=True)]


@cache
def sku_profiles() -> dict[str, dict[str, Any]]:
    """SKU physics and prices from pipelines/config/skus.yml."""
    text = resources.files("pipelines.config").joinpath("skus.yml").read_text()
    profiles = read_yaml(text)
    for sku, profile in profiles.items():
        for key in ("gpus_per_node", "tdp_w", "idle_w", "load_w", "idle_temp_c", "load_temp_c", "speed"):
            if key not in profile:
                raise ValueError(f"pipelines/config/skus.yml: {sku}.{key} is missing")
    return profiles


@dataclass(frozen=True)
class Fleet:
    regions: list[str]
    skus: list[str]
    node_ids: np.ndarray  # str, one per node
    node_region: np.ndarray  # int index into regions
    node_sku: np.ndarray  # int index into skus
    node_rack: np.ndarray  # str
    node_gpus: np.ndarray  # int
    gpu_node: np.ndarray  # int node index per GPU
    gpu_index: np.ndarray  # int index within node
    gpu_ids: np.ndarray  # str

    @property
    def n_nodes(self) -> int:
        return len(self.node_ids)

    @property
    def n_gpus(self) -> int:
        return len(self.gpu_ids)

    @property
    def node_first_gpu(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.node_gpus)[:-1]])

    def sku_array(self, field: str) -> np.ndarray:
        """A per-SKU profile field as an array indexed by SKU index."""
        profiles = sku_profiles()
        return np.array([float(profiles[s][field]) for s in self.skus])

    def inventory(self, snapshot: date) -> pa.Table:
        profiles = sku_profiles()
        node = self.gpu_node
        sku = [self.skus[i] for i in self.node_sku[node]]
        columns = {
            "gpu_id": self.gpu_ids,
            "snapshot_date": [snapshot] * self.n_gpus,
            "gpu_uuid": [f"GPU-{hash_id(g):032x}" for g in self.gpu_ids],
            "gpu_index": self.gpu_index.astype(np.int32),
            "node_id": self.node_ids[node],
            "rack_id": self.node_rack[node],
            "region": [self.regions[i] for i in self.node_region[node]],
            "sku": sku,
            "gpu_mem_mib": [int(profiles[s]["mem_mib"]) for s in sku],
            "tdp_w": [float(profiles[s]["tdp_w"]) for s in sku],
        }
        return pa.table(columns, schema=INVENTORY.arrow_schema())


def hash_id(text: str) -> int:
    """A stable 128-bit hash (Python's hash() is salted per process, which would break determinism)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=16).digest(), "big")


def build_fleet(spec: FleetSpec) -> Fleet:
    """Lay out nodes: 16-GPU A100 nodes where the GPU count needs them, 8-GPU H100 nodes for the rest."""
    skus = list(sku_profiles())
    big = skus.index("A100-SXM-80GB") if "A100-SXM-80GB" in skus else 0
    small = skus.index("H100-SXM-80GB") if "H100-SXM-80GB" in skus else 0
    n_nodes, n_gpus = spec.nodes, spec.gpus
    if n_gpus >= 8 * n_nodes:
        n_big = min(n_nodes, max(0, round((n_gpus - 8 * n_nodes) / 8)))
        sizes = np.where(np.arange(n_nodes) < n_big, 16, 8)
        node_sku = np.where(sizes == 16, big, small)
    else:  # small fleets (tests): equal nodes, SKUs alternating so both cohorts exist
        base, extra = divmod(n_gpus, n_nodes)
        sizes = base + (np.arange(n_nodes) < extra)
        node_sku = np.where(np.arange(n_nodes) % 2 == 0, small, big)
    # every region gets the same SKU mix: deal each SKU's nodes round-robin over the regions
    rank = np.zeros(n_nodes, int)
    for sku in np.unique(node_sku):
        members = np.flatnonzero(node_sku == sku)
        rank[members] = np.arange(len(members))
    node_region = rank % len(spec.regions)
    if len(np.unique(node_region)) < len(spec.regions):  # few nodes per SKU: deal all nodes in turn instead
        node_region = np.arange(n_nodes) % len(spec.regions)
    order = np.lexsort((np.arange(n_nodes), node_region))
    sizes, node_sku, node_region = sizes[order], node_sku[order], node_region[order]
    node_ids, racks = [], []
    per_region = {r: 0 for r in range(len(spec.regions))}
    codes = region_codes(list(spec.regions))
    for region in node_region:
        k = per_region[region]
        per_region[region] += 1
        code = codes[region]
        node_ids.append(f"{code}-n{k:03d}")
        racks.append(f"{code}-r{k // NODES_PER_RACK:02d}")
    gpu_node = np.repeat(np.arange(n_nodes), sizes)
    gpu_index = np.concatenate([np.arange(s) for s in sizes])
    node_ids_arr = np.array(node_ids)
    gpu_ids = np.char.add(np.char.add(node_ids_arr[gpu_node], "-g"), np.char.zfill(gpu_index.astype(str), 2))
    return Fleet(
        regions=list(spec.regions),
        skus=skus,
        node_ids=node_ids_arr,
        node_region=node_region,
        node_sku=node_sku,
        node_rack=np.array(racks),
        node_gpus=sizes.astype(np.int64),
        gpu_node=gpu_node,
        gpu_index=gpu_index,
        gpu_ids=gpu_ids.astype(str),
    )
