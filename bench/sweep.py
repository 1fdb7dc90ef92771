"""Detection and `explain` held against the simulator's truth over many scenarios, for diagnosis that must hold on
inputs nobody tuned it to: per incident the paging latency and whether the alert named its family, the false pages
of each scenario, and `explain`'s largest fault family in the incident's scope against the same hours yesterday
and against the hours just before.

    python -m bench.sweep data/scenarios/*.yml bench/scenarios/*.yml --out DIR [--json FILE]

Each scenario is simulated and built into DIR/<name>/ (kept: a second run reuses what is there).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path

import polars as pl
from tqdm import tqdm

from pipelines.detect.cohorts.placement import UNPACKED_STARTS
from pipelines.detect.config import detection_config
from pipelines.detect.score import load_truth, score
from pipelines.explain.decompose import ExplainError
from pipelines.explain.run import explain_db
from pipelines.orchestration.build import build
from pipelines.semantic.losses import FAULT_FAMILIES
from pipelines.simulate.run import simulate
from pipelines.simulate.scenario import load_scenario
from pipelines.warehouse.connection import connect

# incidents that cost GPU-time; a priority change costs waiting and is judged by queue wait per class instead
EXPLAINED = (
    "ecc_storm",
    "thermal_throttle",
    "driver_regression",
    "framework_regression",
    "fragmentation",
    "scheduler_outage",
    "storage_slowdown",
    "network_degradation",
)
BASELINES = ("yesterday", "before")


def scope_filter(incident: dict) -> dict[str, list[str]]:
    """The page's scope as on-call narrows `explain`: the team, else the incident's nodes, else its region."""
    scope = incident.get("scope") or {}
    if scope.get("team"):
        return {"team": [scope["team"]]}
    if scope.get("nodes") and incident["kind"] in ("ecc_storm", "thermal_throttle", "telemetry_gap"):
        return {"node_id": list(scope["nodes"])}
    if scope.get("region"):
        return {"region": [scope["region"]]}
    return {}


def run_scenario(path: Path, out: Path) -> dict:
    scenario = load_scenario(path)
    folder = out / scenario.name
    landing, db = folder / "landing", folder / "goodput.duckdb"
    if not (landing / "_truth").exists():
        simulate(scenario, landing, progress=False)
    if not db.exists():
        build(landing, db, progress=False)
    truth = {t["incident_id"]: t for t in load_truth(landing / "_truth")}
    with connect(db, read_only=True) as con:
        scored = score(con, landing / "_truth")
        evidence = {i: first_evidence(con, truth[i]) for i in truth}
    incidents = []
    for row in scored["incidents"]:
        incident = truth[row["incident_id"]]
        entry = {
            "scenario": scenario.name,
            "incident_id": row["incident_id"],
            "kind": row["kind"],
            "family": row["family"],
            "detected": row["detected"],
            "latency_min": row["latency_min"],
            "alert_family": row["alert_family"],
            "family_match": row["family_match"],
            **_from_evidence(row, incident, evidence[row["incident_id"]]),
        }
        if row["kind"] in EXPLAINED:
            where = scope_filter(incident)
            entry["explain_scope"] = where
            for baseline in BASELINES:
                try:
                    tree = explain_db(
                        db, _naive(incident["start_at"]), _naive(incident["end_at"]), where=where, baseline=baseline
                    )
                except ExplainError as error:  # no such baseline in the data (yesterday on its first day)
                    entry[f"explain_{baseline}_error"] = str(error)
                    continue
                largest = tree["largest_fault_family"]
                entry[f"explain_{baseline}"] = largest["family"] if largest else None
                # whether there was a loss to explain: a fault that costs waiting, not GPU-time, leaves none
                entry[f"goodput_{baseline}"] = [tree["baseline_goodput"], tree["current_goodput"]]
        incidents.append(entry)
    return {
        "scenario": scenario.name,
        "incidents": incidents,
        "false_pages": scored["false_pages"],
        "unmatched_tickets": scored["unmatched_tickets"],
    }


def first_evidence(con, incident: dict) -> datetime | None:
    """The first minute the data could show the incident, where that can be later than its start: a placement policy
    shows only on a placement no packing scheduler makes (a full region may have no choice for an hour), a framework
    image only on the first worker-minute run on it (it reaches jobs as they start). None: at its start."""
    start, end = _naive(incident["start_at"]), _naive(incident["end_at"])
    if incident["kind"] == "fragmentation":
        lead = detection_config().cohort.spread_drain_lead_min
        placed = con.sql(UNPACKED_STARTS, params=[start, end, lead]).pl().filter(pl.col("unpacked"))
        region = (incident.get("scope") or {}).get("region")
        if region:
            placed = placed.filter(pl.col("region") == region)
        return placed["started_at"].min() if len(placed) else None
    if incident["kind"] == "framework_regression":
        team = (incident.get("scope") or {}).get("team")
        found = con.sql(FIRST_WORKER_MINUTE_ON_A_NEW_IMAGE, params=[start, end, team]).fetchall()
        return found[0][0] if found else None
    return None


FIRST_WORKER_MINUTE_ON_A_NEW_IMAGE = """
select min(w.minute_at)
from marts.fct_training__worker_minutes w
join staging.stg_changes__events c
    on c.change_type = 'framework_image' and c.to_version = w.framework_version
    and c.changed_at >= $1 and c.changed_at < $2 and ($3::varchar is null or c.scope_team = $3)
where w.minute_at >= $1 and w.minute_at < $2
"""


def _from_evidence(row: dict, incident: dict, evidence: datetime | None) -> dict:
    """When the data first showed the incident, and the alert's latency counted from then."""
    if evidence is None:
        return {"first_evidence_at": None, "latency_from_evidence_min": row["latency_min"]}
    lag = (evidence - _naive(incident["start_at"])).total_seconds() / 60
    latency = None if row["latency_min"] is None else max(0.0, row["latency_min"] - lag)
    return {"first_evidence_at": evidence.isoformat(), "latency_from_evidence_min": latency}


def _naive(moment: datetime | str) -> datetime:
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    return moment.replace(tzinfo=None)


def markdown(results: list[dict]) -> str:
    lines = [
        "| scenario | incident | family | paged (min) | alert family | explain yesterday | explain before |",
        "|---|---|---|---|---|---|---|",
    ]
    for result in results:
        for i in result["incidents"]:
            paged = f"{i['latency_min']:.0f}" if i["detected"] and i["latency_min"] is not None else "no"
            if i["detected"] and i.get("first_evidence_at") and i.get("latency_from_evidence_min") is not None:
                paged += f" ({i['latency_from_evidence_min']:.0f} after the first evidence, {i['first_evidence_at']})"
            lines.append(
                f"| {result['scenario']} | {i['kind']} | {i['family']} | {paged} | {i['alert_family'] or ''} | "
                f"{_mark(i, 'yesterday')} | {_mark(i, 'before')} |"
            )
        lines.append(
            f"| {result['scenario']} | false pages: {len(result['false_pages'])}, tickets outside every incident: "
            f"{len(result['unmatched_tickets'])} | | | | | |"
        )
    return "\n".join(lines)


def _mark(incident: dict, baseline: str) -> str:
    key = f"explain_{baseline}"
    if f"{key}_error" in incident:
        return f"n/a ({incident[f'{key}_error']})"
    if key not in incident:
        return "n/a"
    found = incident[key]
    before, now = incident.get(f"goodput_{baseline}") or (None, None)
    moved = f", goodput {before:.1%} -> {now:.1%}" if before is not None and now is not None else ""
    return f"{found} ({'ok' if found == incident['family'] else 'WRONG'}{moved})"


def totals(results: list[dict]) -> dict:
    pageable = [i for r in results for i in r["incidents"] if i["family"] in FAULT_FAMILIES]
    explained = [i for r in results for i in r["incidents"] if "explain_scope" in i]
    return {
        "scenarios": len(results),
        "fault_incidents": len(pageable),
        "paged": sum(i["detected"] for i in pageable),
        "within_15_min": sum(bool(i["detected"] and (i["latency_min"] or 0) <= 15) for i in pageable),
        "within_15_min_of_first_evidence": sum(
            bool(i["detected"] and (i.get("latency_from_evidence_min", i["latency_min"]) or 0) <= 15) for i in pageable
        ),
        "family_right": sum(bool(i["family_match"]) for i in pageable),
        "false_pages": sum(len(r["false_pages"]) for r in results),
        "unmatched_tickets": sum(len(r["unmatched_tickets"]) for r in results),
        "explained": len(explained),
        **{f"explain_{b}_right": sum(i.get(f"explain_{b}") == i["family"] for i in explained) for b in BASELINES},
        **{f"explain_{b}_not_in_data": sum(f"explain_{b}_error" in i for i in explained) for b in BASELINES},
        **{f"explain_{b}_goodput_did_not_fall": sum(_no_drop(i, b) for i in explained) for b in BASELINES},
    }


def _no_drop(incident: dict, baseline: str) -> bool:
    before, now = incident.get(f"goodput_{baseline}") or (None, None)
    return before is not None and now is not None and now >= before


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sweep", description=__doc__.split("\n\n")[0])
    parser.add_argument("scenarios", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="folder for each scenario's landing and warehouse")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    results = [run_scenario(path, args.out) for path in tqdm(args.scenarios, desc="scenarios", unit="scenario")]
    print(markdown(results))
    print(json.dumps(totals(results)))
    if args.json:
        args.json.write_text(json.dumps({"results": results, "totals": totals(results)}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
