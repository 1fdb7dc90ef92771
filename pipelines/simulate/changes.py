"""Change events and the versions they leave behind: drivers and kernels per node, framework images per team.

Most changes are harmless, as on a real platform, so a change alone is never evidence of a regression; the incidents
module adds the harmful ones through the same log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from pipelines.simulate.fleet import Fleet

BASE_DRIVER = "550.127.05"
BENIGN_DRIVER = "550.144.03"
BASE_KERNEL = "5.15.0-119-generic"
BENIGN_KERNEL = "5.15.0-125-generic"
BASE_FRAMEWORK = "torch-2.4.1"
BENIGN_CHANGES_PER_DAY = 14
BENIGN_MIX = {  # change_type -> share of the benign stream
    "config_change": 0.30,
    "framework_image": 0.22,
    "scheduler_policy": 0.08,
    "storage_rollout": 0.08,
    "network_change": 0.07,
    "driver_upgrade": 0.12,
    "kernel_upgrade": 0.08,
    "firmware_upgrade": 0.05,
}
COMPONENTS = {
    "config_change": ("node-agent config", "prometheus scrape config", "cgroup limits", "dataloader defaults"),
    "scheduler_policy": ("fairshare half-life", "backfill interval", "queue time limits"),
    "storage_rollout": ("lustre client", "nvme-of target", "object-store gateway"),
    "network_change": ("switch firmware", "ib subnet manager", "nccl tuning"),
    "firmware_upgrade": ("gpu vbios", "bmc firmware", "nvswitch firmware"),
}


@dataclass
class ChangeLog:
    """Every change row, plus the version timelines the telemetry and the jobs read."""

    fleet: Fleet
    teams: list[str]
    origin: datetime
    rows: list[dict] = field(default_factory=list)
    driver: list[tuple[int, int, str]] = field(default_factory=list)  # (minute, node, version)
    kernel: list[tuple[int, int, str]] = field(default_factory=list)
    framework: list[tuple[int, int, str]] = field(default_factory=list)  # (minute, team, version)

    def add(self, minute: int, change_type: str, component: str, **scope: object) -> str:
        change_id = f"chg-{len(self.rows) + 1:05d}"
        node_list = scope.pop("nodes", None)
        self.rows.append(
            {
                "change_id": change_id,
                "changed_at": self.origin + timedelta(minutes=minute),
                "change_type": change_type,
                "component": component,
                "from_version": scope.get("from_version"),
                "to_version": scope.get("to_version"),
                "scope_region": scope.get("region"),
                "scope_sku": scope.get("sku"),
                "scope_team": scope.get("team"),
                "scope_node_ids": ",".join(self.fleet.node_ids[list(node_list)]) if node_list is not None else None,
                "description": scope.get("description") or f"{change_type.replace('_', ' ')}: {component}",
            }
        )
        return change_id

    def set_driver(self, minute: int, nodes: list[int], version: str, change_type: str = "driver_upgrade") -> str:
        before = self.driver_at(minute, nodes[0]) if nodes else None
        self.driver.extend((minute, n, version) for n in nodes)
        return self.add(minute, change_type, "nvidia-driver", nodes=nodes, from_version=before, to_version=version)

    def set_framework(self, minute: int, team: int, version: str, change_type: str = "framework_image") -> str:
        before = self.framework_at(minute, team)
        self.framework.append((minute, team, version))
        return self.add(
            minute, change_type, "training image", team=self.teams[team], from_version=before, to_version=version
        )

    def driver_at(self, minute: int, node: int) -> str:
        return _latest(self.driver, minute, node, BASE_DRIVER)

    def kernel_at(self, minute: int, node: int) -> str:
        return _latest(self.kernel, minute, node, BASE_KERNEL)

    def framework_at(self, minute: int, team: int) -> str:
        return _latest(self.framework, minute, team, BASE_FRAMEWORK)

    def node_versions(self, timeline: list[tuple[int, int, str]], base: str, day0: int, minutes: int) -> np.ndarray:
        """(nodes, minutes) array of the version each node runs in each minute of one day."""
        out = np.full((self.fleet.n_nodes, minutes), base, dtype=object)
        for minute, node, version in sorted(timeline):
            if minute < day0 + minutes:
                out[node, max(0, minute - day0) :] = version
        return out


def _latest(timeline: list[tuple[int, int, str]], minute: int, key: int, base: str) -> str:
    best = (-1, base)
    for at, k, version in timeline:
        if k == key and best[0] <= at <= minute:
            best = (at, version)
    return best[1]


def add_benign_changes(log: ChangeLog, total_minutes: int, rng: np.random.Generator) -> None:
    """A steady stream of harmless deploys, upgrades and config changes, spread over working hours."""
    n_days = total_minutes // 1440
    kinds = list(BENIGN_MIX)
    shares = np.array(list(BENIGN_MIX.values()))
    fleet = log.fleet
    image_builds = {t: 0 for t in range(len(log.teams))}
    for day in range(n_days):
        count = rng.poisson(BENIGN_CHANGES_PER_DAY)
        minutes = np.sort(day * 1440 + rng.integers(6 * 60, 22 * 60, size=count))
        for minute, kind in zip(minutes.tolist(), rng.choice(kinds, size=count, p=shares / shares.sum()), strict=False):
            nodes = rng.choice(fleet.n_nodes, size=max(1, fleet.n_nodes // 20), replace=False).tolist()
            if kind == "driver_upgrade":
                log.set_driver(minute, nodes, BENIGN_DRIVER)
            elif kind == "kernel_upgrade":
                log.kernel.extend((minute, n, BENIGN_KERNEL) for n in nodes)
                log.add(minute, kind, "linux kernel", nodes=nodes, from_version=BASE_KERNEL, to_version=BENIGN_KERNEL)
            elif kind == "framework_image":
                team = int(rng.integers(len(log.teams)))
                image_builds[team] += 1
                base = log.framework_at(minute, team).split("+")[0]
                log.set_framework(minute, team, f"{base}+b{image_builds[team]}")
            else:
                component = str(rng.choice(COMPONENTS[kind]))
                region = str(rng.choice(fleet.regions))
                log.add(minute, kind, component, region=region, from_version=None, to_version=None)


def framework_versions(log: ChangeLog, team: np.ndarray, submit_min: np.ndarray) -> np.ndarray:
    """The image version each job was submitted with: its team's latest image at submission."""
    out = np.full(len(team), BASE_FRAMEWORK, dtype=object)
    for t in range(len(log.teams)):
        timeline = sorted((m, v) for m, k, v in log.framework if k == t)
        if not timeline:
            continue
        times = np.array([m for m, _ in timeline])
        versions = np.array([BASE_FRAMEWORK] + [v for _, v in timeline], dtype=object)
        mine = team == t
        out[mine] = versions[np.searchsorted(times, submit_min[mine], side="right")]
    return out
