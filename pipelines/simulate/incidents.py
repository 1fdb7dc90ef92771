"""Incidents and maintenance turned into effects on nodes and the scheduler, plus the truth of what was injected.

Node effects are kept as the segments incidents set (`effects.Effect`), read as (node, minute) windows, so the
scheduler and the telemetry read one shared picture of what went wrong where and when at a cost that follows the
incidents, not the length of the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from pipelines.simulate.changes import BASE_DRIVER, ChangeLog
from pipelines.simulate.effects import Effect
from pipelines.simulate.fleet import NODES_PER_RACK, Fleet
from pipelines.simulate.scenario import (
    INCIDENT_FAMILIES,
    PAGING_FAMILIES,
    Scenario,
    ScenarioError,
    Scope,
    Window,
)
from pipelines.simulate.workload import BATCH, SURGE_HOURS, TEAMS

BAD_DRIVER = "560.28.03"
BAD_FRAMEWORK = "torch-2.5.0"
DEFAULT_NODE_COUNT = {"ecc_storm": 2, "thermal_throttle": NODES_PER_RACK, "telemetry_gap": 6, "maintenance": 4}
REGION_WIDE = {"storage_slowdown", "scheduler_outage", "fragmentation", "network_degradation", "driver_regression"}
MULTIPLIERS = ("sc", "si", "sn", "storage", "neterr")  # default 1.0; the rest default 0
FLAGS = ("gap", "maint", "ecc_drain")  # boolean arrays
UNCORRECTABLE_PER_GPU_MIN = 0.01  # uncorrectable ECC errors per GPU-minute of a storm at magnitude 1
ECC_RESET_MIN = 30  # a node drained for an uncorrectable error comes back this long after the storm, once reset


@dataclass
class Effects:
    n_nodes: int
    n_regions: int
    minutes: int
    arrays: dict[str, Effect | np.ndarray] = field(default_factory=dict)  # node effects; region flags dense
    prio_boost: list[tuple[int, int, int, int, int]] = field(default_factory=list)  # (t0, t1, team|-1, class, prio)
    fw_slow: dict[str, float] = field(default_factory=dict)
    dummy: list[tuple[int, int, int, int]] = field(default_factory=list)  # (t0, t1, team, gpus)
    ecc_trips: list[tuple[int, int]] = field(default_factory=list)  # (node, minute) of the error that drained it

    def get(self, name: str) -> Effect | np.ndarray | None:
        return self.arrays.get(name)

    def priority(self, base: int, minute: int, cls: int, team: int) -> int:
        """The scheduler's priority for a job of this class and team at `minute`: its own, unless a policy change
        in force then reweights its class (the scheduler orders by it and reports it on every event)."""
        for t0, t1, boosted_team, boosted_cls, boosted in self.prio_boost:
            if t0 <= minute < t1 and cls == boosted_cls and boosted_team in (-1, team):
                return boosted
        return base

    def arr(self, name: str) -> Effect:
        """The named node effect, created on first use (multipliers start at 1, flags at False, the rest at 0)."""
        if name not in self.arrays:
            if name in MULTIPLIERS:
                self.arrays[name] = Effect(self.n_nodes, self.minutes, 1.0, np.float32)
            elif name in FLAGS:
                self.arrays[name] = Effect(self.n_nodes, self.minutes, False, np.bool_)
            else:
                self.arrays[name] = Effect(self.n_nodes, self.minutes, 0.0, np.float32)
        return self.arrays[name]

    def region_flag(self, name: str) -> np.ndarray:
        """A region flag by minute, dense: a few regions, and the scheduler reads it at every placement."""
        if name not in self.arrays:
            self.arrays[name] = np.zeros((self.n_regions, self.minutes), np.bool_)
        return self.arrays[name]

    def slowed_minutes(self) -> np.ndarray:
        """Minutes in which any node runs slower than healthy (the scheduler's slow path)."""
        out = np.zeros(self.minutes, np.bool_)
        for name in ("sc", "si", "sn"):
            if name in self.arrays:
                out |= self.arrays[name].departs()
        return out


def build_effects(
    scenario: Scenario, fleet: Fleet, log: ChangeLog, origin: datetime, minutes: int, rng: np.random.Generator
) -> tuple[Effects, list[dict]]:
    """Effects of every incident and maintenance window, and the truth rows that describe them."""
    fx = Effects(fleet.n_nodes, len(fleet.regions), minutes)
    truth = []
    for index, incident in enumerate(scenario.incidents):
        t0, t1, nodes, region, team = _resolve(
            scenario, incident, incident.kind, f"incidents.{index}", fleet, origin, rng
        )
        _apply(incident.kind, incident.magnitude, fx, log, fleet, nodes, region, team, t0, t1, origin)
        if incident.kind == "ecc_storm":
            _drain_on_first_error(fx, fleet, nodes, t0, t1, incident.magnitude, rng)
        family = INCIDENT_FAMILIES[incident.kind]
        truth.append(
            _truth(
                f"inc-{index + 1:02d}",
                incident.kind,
                family,
                origin,
                t0,
                t1,
                fleet,
                nodes,
                incident.scope,
                team,
                family in PAGING_FAMILIES,
            )
        )
    for index, window in enumerate(scenario.maintenance):
        t0, t1, nodes, region, _ = _resolve(scenario, window, "maintenance", f"maintenance.{index}", fleet, origin, rng)
        fx.arr("maint").apply(nodes, max(t0, 0), max(t1, 0), "set", True)
        truth.append(
            _truth(
                f"mnt-{index + 1:02d}",
                "maintenance",
                "planned",
                origin,
                t0,
                t1,
                fleet,
                nodes,
                window.scope,
                None,
                False,
            )
        )
    truth.extend(_surge_truth(scenario, origin))
    return fx, truth


def _resolve(scenario: Scenario, item: Window, kind: str, where: str, fleet: Fleet, origin: datetime, rng):
    begin, end = scenario.window(item)
    if begin < scenario.start or begin >= scenario.end:
        raise ScenarioError(f"{where}.start: {begin.isoformat()} is outside the scenario's days")
    t0 = int((begin - origin).total_seconds() // 60)
    t1 = int((end - origin).total_seconds() // 60)
    scope: Scope = item.scope
    region = None
    if scope.region is not None:
        if scope.region not in fleet.regions:
            raise ScenarioError(f"{where}.scope.region: unknown region '{scope.region}' (valid: {fleet.regions})")
        region = fleet.regions.index(scope.region)
    elif kind in REGION_WIDE:
        region = int(rng.integers(len(fleet.regions)))
    if scope.sku is not None and scope.sku not in fleet.skus:
        raise ScenarioError(f"{where}.scope.sku: unknown sku '{scope.sku}' (valid: {fleet.skus})")
    team = None
    if scope.team is not None:
        if scope.team not in TEAMS:
            raise ScenarioError(f"{where}.scope.team: unknown team '{scope.team}' (valid: {list(TEAMS)})")
        team = TEAMS.index(scope.team)
    elif kind in ("dummy_workload", "priority_change"):
        team = int(rng.integers(len(TEAMS)))
    nodes = _nodes(scope, kind, where, fleet, region, rng)
    return t0, t1, nodes, region, team


def _nodes(scope: Scope, kind: str, where: str, fleet: Fleet, region: int | None, rng) -> list[int]:
    mask = np.ones(fleet.n_nodes, bool)
    if region is not None:
        mask &= fleet.node_region == region
    if scope.sku is not None:
        mask &= fleet.node_sku == fleet.skus.index(scope.sku)
    candidates = np.flatnonzero(mask)
    if isinstance(scope.nodes, list):
        known = {n: i for i, n in enumerate(fleet.node_ids.tolist())}
        unknown = [n for n in scope.nodes if n not in known]
        if unknown:
            raise ScenarioError(f"{where}.scope.nodes: unknown nodes {unknown}")
        return sorted(known[n] for n in scope.nodes)
    count = scope.nodes or DEFAULT_NODE_COUNT.get(kind)
    if kind == "network_degradation" and count is None:
        count = max(1, len(candidates) // 2)  # one spine switch's half of the region
    if count is None or count >= len(candidates):
        return candidates.tolist()
    if kind == "thermal_throttle":  # a rack: consecutive nodes
        first = int(rng.integers(0, len(candidates) - count + 1))
        return candidates[first : first + count].tolist()
    return sorted(rng.choice(candidates, size=count, replace=False).tolist())


def _apply(kind, m, fx: Effects, log: ChangeLog, fleet, nodes, region, team, t0, t1, origin) -> None:
    span = slice(max(t0, 0), max(t1, 0))
    on_nodes = (nodes, span.start, span.stop)
    if kind == "ecc_storm":
        fx.arr("ecc").apply(*on_nodes, "set", m)
        fx.arr("hz_hw").apply(*on_nodes, "add", 0.004 * m)
    elif kind == "thermal_throttle":
        fx.arr("throttle").apply(*on_nodes, "set", m)
        fx.arr("sc").apply(*on_nodes, "mul", 1 + 0.35 * m)
    elif kind == "driver_regression":
        log.set_driver(t0, nodes, BAD_DRIVER)
        fx.arr("hz_sw").apply(*on_nodes, "add", 0.01 * m)
        fx.arr("sc").apply(*on_nodes, "mul", 1 + 0.05 * m)
        log.set_driver(t1, nodes, BASE_DRIVER, change_type="rollback")
    elif kind == "framework_regression":
        fx.fw_slow[BAD_FRAMEWORK] = 1 + 0.4 * m
        for t in [team] if team is not None else range(len(TEAMS)):
            before = log.framework_at(t0, t)
            log.set_framework(t0, t, BAD_FRAMEWORK)
            log.set_framework(t1, t, before, change_type="rollback")
    elif kind == "priority_change":
        fx.prio_boost.append((t0, t1, team if team is not None else -1, BATCH, 60 + int(10 * m)))
        log.add(
            t0,
            "scheduler_policy",
            "priority weights",
            team=TEAMS[team] if team is not None else None,
            description="batch priority raised above interactive and pipelines",
        )
        log.add(t1, "rollback", "priority weights", description="priority weights restored")
    elif kind == "fragmentation":
        _region_rows(fx, "spread", region, span)
        log.add(t0, "scheduler_policy", "placement policy", region=_name(fleet, region), to_version="spread")
        log.add(t1, "rollback", "placement policy", region=_name(fleet, region), to_version="pack")
    elif kind == "scheduler_outage":
        _region_rows(fx, "sched_down", region, span)
    elif kind == "storage_slowdown":
        fx.arr("si").apply(*on_nodes, "mul", 1 + 4 * m)
        fx.arr("storage").apply(*on_nodes, "mul", 1 + 6 * m)
        fx.arr("neterr").apply(*on_nodes, "mul", 1 + 3 * m)
    elif kind == "network_degradation":
        fx.arr("sn").apply(*on_nodes, "mul", 1 + 3 * m)
        fx.arr("neterr").apply(*on_nodes, "mul", 1 + 15 * m)
        fx.arr("hz_net").apply(*on_nodes, "add", 0.002 * m)
    elif kind == "dummy_workload":
        fx.dummy.append((t0, t1, team, max(1, int(round(0.06 * m * fleet.n_gpus)))))
    elif kind == "telemetry_gap":
        fx.arr("gap").apply(*on_nodes, "set", True)


def _drain_on_first_error(fx: Effects, fleet: Fleet, nodes: list[int], t0: int, t1: int, m: float, rng) -> None:
    """A double-bit ECC error (XID 48) means drain: the node agent takes the node out at its first uncorrectable
    error, killing its jobs, and it stays out until the storm is over and the node has been reset."""
    for node in nodes:
        per_minute = 1 - np.exp(-UNCORRECTABLE_PER_GPU_MIN * m * int(fleet.node_gpus[node]))
        tripped = max(t0, 0) + int(rng.geometric(per_minute)) - 1 if per_minute > 0 else t1
        if tripped < min(t1, fx.minutes):
            fx.arr("ecc_drain").apply([node], tripped, min(t1 + ECC_RESET_MIN, fx.minutes), "set", True)
            fx.ecc_trips.append((node, tripped))


def _region_rows(fx: Effects, name: str, region: int | None, span: slice) -> None:
    flags = fx.region_flag(name)
    if region is None:
        flags[:, span] = True
    else:
        flags[region, span] = True


def _name(fleet: Fleet, region: int | None) -> str | None:
    return None if region is None else fleet.regions[region]


def _truth(incident_id, kind, family, origin, t0, t1, fleet, nodes, scope, team, should_page) -> dict:
    return {
        "incident_id": incident_id,
        "kind": kind,
        "family": family,
        "start_at": origin + timedelta(minutes=t0),
        "end_at": origin + timedelta(minutes=t1),
        "scope": {
            "nodes": fleet.node_ids[nodes].tolist(),
            "region": scope.region,
            "sku": scope.sku,
            "team": TEAMS[team] if team is not None else scope.team,
        },
        "should_page": should_page,
    }


def _surge_truth(scenario: Scenario, origin: datetime) -> list[dict]:
    rows = []
    for day in range(scenario.days):
        begin = scenario.start.replace(hour=0, minute=0) + timedelta(days=day)
        if begin.weekday() >= 5 or begin + timedelta(hours=SURGE_HOURS[1]) <= scenario.start:
            continue
        t0 = int((begin - origin).total_seconds() // 60) + SURGE_HOURS[0] * 60
        rows.append(
            {
                "incident_id": f"srg-{day + 1:02d}",
                "kind": "retrain_surge",
                "family": "seasonal",
                "start_at": origin + timedelta(minutes=t0),
                "end_at": origin + timedelta(minutes=t0 + (SURGE_HOURS[1] - SURGE_HOURS[0]) * 60),
                "scope": {"nodes": [], "region": None, "sku": None, "team": None},
                "should_page": False,
            }
        )
    return rows
