"""The jobs a platform sees: arrivals, sizes, durations and fates, calibrated on published GPU-cluster traces.

Shapes from ../shared/CALIBRATION.md: most jobs take one GPU and run minutes, while a few multi-node jobs run for
hours to days and take most GPU-hours; a fifth to a third of jobs fail or are cancelled; weekday retrains surge.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields

import numpy as np

from pipelines.simulate.fleet import Fleet

CLASSES = ("interactive", "batch", "distributed", "retrain")
INTERACTIVE, BATCH, DISTRIBUTED, RETRAIN = range(4)
TEAMS = ("llm-core", "search", "ads-ranking", "vision", "speech", "recsys", "research", "platform-eval")

# name, compute s/step on an H100, data-loader s/step, gradient-sync s/step when multi-GPU, samples/GPU/step
MODELS = (
    ("llm-70b", 2.40, 0.10, 0.55, 4),
    ("llm-7b", 0.85, 0.06, 0.18, 8),
    ("vit-large", 0.32, 0.05, 0.06, 64),
    ("resnet50", 0.11, 0.03, 0.02, 256),
    ("bert-base", 0.09, 0.015, 0.02, 64),
    ("dlrm", 0.05, 0.02, 0.03, 2048),
    ("whisper-medium", 0.40, 0.06, 0.08, 32),
    ("diffusion-xl", 0.75, 0.07, 0.10, 16),
)
DATASETS = {
    "llm": "web-text-v3",
    "vit": "imagenet-22k",
    "res": "imagenet-1k",
    "ber": "wiki-books",
    "dlr": "click-logs",
    "whi": "speech-corpus",
    "dif": "laion-subset",
}
MODEL_WEIGHTS = {
    BATCH: (0.0, 0.15, 0.15, 0.2, 0.15, 0.1, 0.15, 0.1),
    DISTRIBUTED: (0.4, 0.35, 0.1, 0.0, 0.0, 0.0, 0.0, 0.15),
    RETRAIN: (0.0, 0.0, 0.0, 0.2, 0.3, 0.5, 0.0, 0.0),
}
# per class: jobs per weekday at 1,200 GPUs, weekend factor, hourly profile (UTC)
DAILY_JOBS = {INTERACTIVE: 12_000, BATCH: 22_000, DISTRIBUTED: 40, RETRAIN: 150}
WEEKEND_FACTOR = {INTERACTIVE: 0.35, BATCH: 0.6, DISTRIBUTED: 0.8, RETRAIN: 0.0}
_WORKDAY = np.array([2, 1, 1, 1, 1, 2, 4, 6, 8, 9, 9, 9, 8, 9, 9, 9, 8, 7, 6, 5, 4, 3, 3, 2], float)
HOURLY = {
    INTERACTIVE: _WORKDAY,
    BATCH: 0.6 * _WORKDAY + 2.5,
    DISTRIBUTED: 0.3 * _WORKDAY + 3,
    RETRAIN: np.array([0, 0, 8, 10, 10, 8, 6, 3] + [0] * 16, float),  # the weekday retrain surge
}
SURGE_HOURS = (2, 8)  # [start, end) UTC hours of the retrain surge, for the truth
# runtime in healthy minutes: lognormal (median, sigma), capped. The weekday offered load is then about 0.76 of the
# GPUs (interactive 0.14, batch 0.25, distributed 0.28, retrain 0.09; weekends about half): a busy fleet whose queue
# drains overnight, as real clusters' near-zero median waits say. With distributed runs of 180 minutes' median (0.89
# in all) the gang backlog grew from day to day and every free GPU read as idle with demand.
RUNTIME = {INTERACTIVE: (8, 1.4, 720), BATCH: (2.5, 2.0, 2880), DISTRIBUTED: (120, 1.4, 5760), RETRAIN: (60, 0.5, 240)}
# fate shares: completed, failed, cancelled (the user's own failures; infrastructure adds its own)
FATES = {
    INTERACTIVE: (0.72, 0.05, 0.23),
    BATCH: (0.62, 0.26, 0.12),
    DISTRIBUTED: (0.55, 0.30, 0.15),
    RETRAIN: (0.92, 0.06, 0.02),
}
PRIORITY = {INTERACTIVE: 50, BATCH: 20, DISTRIBUTED: 30, RETRAIN: 40}
CHECKPOINT_MIN = {INTERACTIVE: 0, BATCH: 20, DISTRIBUTED: 30, RETRAIN: 15}
BATCH_GPUS = ((1, 0.85), (2, 0.06), (4, 0.05), (8, 0.04))
RETRAIN_DEADLINE_S = 4 * 3600
HOME_REGION_SHARE = 0.85


@dataclass
class Jobs:
    """Jobs as columns (one array per attribute), in submission order."""

    submit_s: np.ndarray  # seconds since the simulation origin
    cls: np.ndarray
    team: np.ndarray
    region: np.ndarray
    model: np.ndarray  # -1: no model (notebooks, dummy work)
    gpus: np.ndarray
    n_nodes: np.ndarray  # 0: fits on one node
    sku_req: np.ndarray  # -1: any SKU
    work_min: np.ndarray
    fate: np.ndarray  # 0 completed, 1 failed, 2 cancelled
    fate_frac: np.ndarray  # share of the work done when the user's failure or cancel happens
    priority: np.ndarray
    deadline_s: np.ndarray  # -1: none
    ckpt_min: np.ndarray
    reports_steps: np.ndarray
    is_dummy: np.ndarray
    activity: np.ndarray  # share of minutes a notebook's GPU is busy

    def __len__(self) -> int:
        return len(self.submit_s)

    def take(self, order: np.ndarray) -> Jobs:
        return Jobs(**{f.name: getattr(self, f.name)[order] for f in fields(self)})

    @staticmethod
    def empty() -> Jobs:
        """No jobs, with the column types a draw has (a quiet day must not turn integer columns into floats)."""
        kinds = {"fate_frac": np.float64, "activity": np.float64, "reports_steps": np.bool_, "is_dummy": np.bool_}
        return Jobs(**{f.name: np.zeros(0, kinds.get(f.name, np.int64)) for f in fields(Jobs)})

    @staticmethod
    def concat(parts: list[Jobs]) -> Jobs:
        return Jobs(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(Jobs)})


def job_days(
    fleet: Fleet, origin_weekday: int, days: int, rng: np.random.Generator, demand: list[float] | None = None
) -> Iterator[Jobs]:
    """Jobs for `days` days from the origin (whose weekday is given, Monday = 0), a day at a time, each day's in
    submission order: a long run never holds them all. `demand` scales each region's jobs (1: calibrated); a
    region below the busiest keeps that share of the busiest's draw."""
    levels = np.asarray(demand if demand is not None else [1.0] * len(fleet.regions), float)
    busiest = float(levels.max())
    keep = levels / busiest
    scale = fleet.n_gpus / 1200 * busiest
    for day in range(days):
        weekend = (origin_weekday + day) % 7 >= 5
        parts = []
        for cls in CLASSES:
            c = CLASSES.index(cls)
            rate = DAILY_JOBS[c] * scale * (WEEKEND_FACTOR[c] if weekend else 1.0)
            if c in (DISTRIBUTED, RETRAIN):
                rate = max(rate, 2.0 if not weekend or c == DISTRIBUTED else 0.0)
            count = int(rng.poisson(rate))
            if count:
                drawn = _draw_class(c, count, day, fleet, rng)
                if (keep < 1).any():
                    drawn = drawn.take(np.flatnonzero(rng.random(count) < keep[drawn.region]))
                parts.append(drawn)
        jobs = Jobs.concat(parts) if parts else Jobs.empty()
        yield jobs.take(np.argsort(jobs.submit_s, kind="stable"))


def _draw_class(c: int, n: int, day: int, fleet: Fleet, rng: np.random.Generator) -> Jobs:
    profile = HOURLY[c] / HOURLY[c].sum()
    hour = rng.choice(24, size=n, p=profile)
    submit_s = day * 86400 + hour * 3600 + rng.integers(0, 3600, size=n)
    team = rng.integers(0, len(TEAMS), size=n)
    home = team % len(fleet.regions)
    region = np.where(rng.random(n) < HOME_REGION_SHARE, home, rng.integers(0, len(fleet.regions), size=n))
    median, sigma, cap = RUNTIME[c]
    work = np.clip(np.rint(rng.lognormal(np.log(median), sigma, size=n)), 1, cap).astype(np.int64)
    fate = rng.choice(3, size=n, p=FATES[c])
    # users' own failures come early (bad config, OOM); cancels anywhere
    fate_frac = np.where(fate == 1, rng.beta(0.6, 2.0, size=n), rng.random(n))
    model = np.full(n, -1)
    if c in MODEL_WEIGHTS:
        weights = np.array(MODEL_WEIGHTS[c])
        model = rng.choice(len(MODELS), size=n, p=weights / weights.sum())
    gpus, n_nodes, sku_req = _sizes(c, n, fleet, rng)
    deadline = np.where(c == RETRAIN, submit_s + RETRAIN_DEADLINE_S, -1)
    return Jobs(
        submit_s=submit_s.astype(np.int64),
        cls=np.full(n, c),
        team=team,
        region=region,
        model=model,
        gpus=gpus,
        n_nodes=n_nodes,
        sku_req=sku_req,
        work_min=work,
        fate=fate,
        fate_frac=fate_frac,
        priority=np.full(n, PRIORITY[c]),
        deadline_s=deadline.astype(np.int64),
        ckpt_min=np.full(n, CHECKPOINT_MIN[c]),
        reports_steps=np.full(n, c != INTERACTIVE),
        is_dummy=np.zeros(n, bool),
        activity=rng.beta(1.5, 4.0, size=n) if c == INTERACTIVE else np.ones(n),
    )


def _sizes(c: int, n: int, fleet: Fleet, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """GPUs per job; multi-node jobs ask for whole nodes of one SKU."""
    smallest_node = int(fleet.node_gpus.min())
    if c == INTERACTIVE:
        gpus = np.where(rng.random(n) < 0.9, 1, 2)
        return np.minimum(gpus, smallest_node), np.zeros(n, int), np.full(n, -1)
    if c == BATCH:
        sizes, probs = zip(*BATCH_GPUS, strict=True)
        gpus = rng.choice(sizes, size=n, p=probs)
        return np.minimum(gpus, smallest_node), np.zeros(n, int), np.full(n, -1)
    # jobs that ask for a SKU ask in proportion to the fleet's GPUs of it (a small H100 pool is not half the demand)
    share = np.bincount(fleet.node_sku, weights=fleet.node_gpus, minlength=len(fleet.skus))
    sku = rng.choice(len(fleet.skus), size=n, p=share / share.sum())
    per_node = np.array([_gpus_per_node(fleet, s) for s in range(len(fleet.skus))])[sku]
    if c == RETRAIN:
        return per_node.astype(int), np.zeros(n, int), sku
    max_nodes = np.array([_nodes_per_region(fleet, s) for s in range(len(fleet.skus))])[sku]
    nodes = np.minimum(rng.choice([2, 2, 2, 4, 4, 8], size=n), np.maximum(1, max_nodes // 2))
    return (nodes * per_node).astype(int), nodes.astype(int), sku


def _gpus_per_node(fleet: Fleet, sku: int) -> int:
    sizes = fleet.node_gpus[fleet.node_sku == sku]
    return int(sizes.max()) if len(sizes) else int(fleet.node_gpus.max())


def _nodes_per_region(fleet: Fleet, sku: int) -> int:
    counts = [int(((fleet.node_sku == sku) & (fleet.node_region == r)).sum()) for r in range(len(fleet.regions))]
    return max(1, min(counts))


def dummy_jobs(fleet: Fleet, t0: int, t1: int, team: int, gpus: int, rng: np.random.Generator) -> Jobs:
    """A team's busy work: training jobs that hold GPUs at full utilisation for the window and make no progress."""
    per_job = min(4, int(fleet.node_gpus.min()))
    n = max(1, -(-gpus // per_job))
    submit_s = t0 * 60 + np.sort(rng.integers(0, 20 * 60, size=n))
    return Jobs(
        submit_s=submit_s.astype(np.int64),
        cls=np.full(n, BATCH),
        team=np.full(n, team),
        region=rng.integers(0, len(fleet.regions), size=n),
        model=np.full(n, 3),  # claims to train a resnet50
        gpus=np.full(n, per_job),
        n_nodes=np.zeros(n, int),
        sku_req=np.full(n, -1),
        work_min=np.full(n, max(1, t1 - t0 - 20), np.int64),
        fate=np.zeros(n, int),
        fate_frac=np.ones(n),
        priority=np.full(n, PRIORITY[BATCH]),
        deadline_s=np.full(n, -1, np.int64),
        ckpt_min=np.zeros(n, int),
        reports_steps=np.ones(n, bool),
        is_dummy=np.ones(n, bool),
        activity=np.ones(n),
    )
