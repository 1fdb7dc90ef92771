"""Where the scheduler puts a job: which nodes may take it, best fit for a single-node job (worst fit while a
spread policy is in force), whole free nodes for a gang, the emptiest nodes held for a job that waited too long,
and the per-node bookkeeping of free GPU slots."""

from __future__ import annotations

import numpy as np

from pipelines.simulate.fleet import Fleet


class Placement:
    def __init__(self, fleet: Fleet, spread: np.ndarray | None):
        self.fleet, self.spread = fleet, spread  # spread: region x minute, True while small jobs are scattered
        self.free_slots = [list(range(int(g))) for g in fleet.node_gpus]
        self.free_count = fleet.node_gpus.astype(np.int64).copy()
        self.first_gpu = fleet.node_first_gpu
        self._eligible: dict[tuple[int, int], np.ndarray] = {}

    def eligible(self, region: int, sku: int) -> np.ndarray:
        """Nodes of the region with the SKU asked for (any SKU of the region when it has none)."""
        key = (region, sku)
        if key not in self._eligible:
            mask = self.fleet.node_region == region
            if sku >= 0 and (mask & (self.fleet.node_sku == sku)).any():
                mask &= self.fleet.node_sku == sku
            self._eligible[key] = np.flatnonzero(mask)
        return self._eligible[key]

    def place(self, region: int, sku: int, gpus: int, n_nodes: int, t: int, blocked: np.ndarray) -> np.ndarray | None:
        """The nodes the job starts on now, or None when it does not fit."""
        nodes = self.eligible(region, sku)
        free = self.free_count[nodes]
        if n_nodes > 0:
            whole = nodes[(free == self.fleet.node_gpus[nodes]) & ~blocked[nodes]]
            k = min(n_nodes, len(nodes))
            return whole[:k] if len(whole) >= k else None
        fits = (free >= gpus) & ~blocked[nodes]
        if not fits.any():
            return None
        if self.spread is not None and self.spread[region, t]:  # worst fit: scatter small jobs
            return nodes[[np.argmax(np.where(fits, free, -1))]]
        return nodes[[np.argmin(np.where(fits, free, 1 << 30))]]  # best fit: pack

    def reserve(self, region: int, sku: int, n_nodes: int, drained: np.ndarray) -> np.ndarray:
        """The emptiest nodes not drained, to hold for a job that waited too long so small jobs stop starving it."""
        nodes = self.eligible(region, sku)
        nodes = nodes[~drained[nodes]] if (~drained[nodes]).any() else nodes
        order = nodes[np.argsort(-self.free_count[nodes], kind="stable")]
        return order[: max(1, n_nodes)]

    def take(self, nodes: np.ndarray, gpus: int, whole: bool) -> np.ndarray:
        """The GPU ids a starting job takes on its nodes (all of each node for a gang)."""
        taken = []
        for n in nodes.tolist():
            free = self.free_slots[n]
            count = len(free) if whole else gpus
            first = int(self.first_gpu[n])
            taken.extend(first + slot for slot in free[:count])
            del free[:count]
            self.free_count[n] -= count
        return np.array(taken, np.int64)

    def give_back(self, nodes: np.ndarray, gpus: np.ndarray) -> None:
        for gpu, node in zip(gpus.tolist(), self.fleet.gpu_node[gpus].tolist(), strict=True):
            self.free_slots[node].append(gpu - int(self.first_gpu[node]))
            self.free_count[node] += 1
        for n in nodes.tolist():
            self.free_slots[n].sort()
