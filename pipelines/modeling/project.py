"""The SQL model project: every file under models/ is one table; its dependencies are the tables its SQL reads.

Dependencies come from parsing (sqlglot scopes, so CTE names are not mistaken for tables), never from a list kept by
hand. Everything that would make the graph wrong is an error at load time that names the file.
"""

from __future__ import annotations

import dataclasses
import graphlib
import hashlib
import json
import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import sqlglot
from sqlglot import exp
from sqlglot.optimizer.scope import traverse_scope

from pipelines.config import read_yaml
from pipelines.contracts import SOURCES
from pipelines.modeling.config import validated
from pipelines.modeling.restatement import LOST_KEY
from pipelines.modeling.rollups import Rollup, RollupError, rollup_sql, rollups_of
from pipelines.project_files import project_dir

LAYERS = ("staging", "intermediate", "marts")

# models taken out of the project, with where their rows went: a warehouse built before still holds their tables,
# which nothing would update again (and publishing would serve, stale), so a build or a tick drops them
RETIRED_MODELS = {
    "intermediate.int_gpu_minutes__work": "computed inside marts.fct_goodput__gpu_minutes, its only reader",
}

# which schemas each layer may read: only staging reads raw, and no edge goes back up
ALLOWED_READS = {
    "staging": {"raw"},
    "intermediate": {"staging", "intermediate"},
    "marts": {"staging", "intermediate", "marts"},
}
MODELS_DIR = project_dir("models")
MAX_CACHED_PARSES = 2000


class ModelError(ValueError):
    """A model that cannot be part of the graph; the message starts with its file."""


@dataclass(frozen=True)
class Model:
    name: str  # table name = file stem
    layer: str  # schema = folder
    path: Path
    sql: str
    deps: frozenset[str]  # "schema.table" it reads
    config: dict = field(default_factory=dict, hash=False, compare=False)
    params: frozenset[str] = frozenset()  # the `$` parameters its SQL takes
    sources: frozenset[str] = frozenset()  # the raw tables it depends on, directly or through other models
    reads_lost_work: bool = False  # it reads, directly or not, a model that restates lost work (see `lost_work`)

    @property
    def table(self) -> str:
        return f"{self.layer}.{self.name}"

    @property
    def incremental(self) -> dict | None:
        return self.config.get("incremental")

    @property
    def lost_work(self) -> dict | None:
        """For a fact whose rows say whether work was kept: a tick restates only the rows of jobs that failed since,
        back to their last checkpoint, with its inputs cut to the values those rows hold in the `narrow` columns."""
        return (self.incremental or {}).get("lost_work")

    @property
    def moves(self) -> dict | None:
        """For a table whose row of a key moves later as the key's data arrives (an attempt's row sits at its last
        minute): a window run replaces the key's earlier row, which lies at or after the key's `since` column."""
        return (self.incremental or {}).get("moves")

    @property
    def materialized(self) -> str:
        """'table', or 'view' for a model that only renames and casts: a tick would spend most of its time writing
        the same rows again, while a view costs its readers nothing they would not pay reading the table."""
        return self.config.get("materialized", "table")


def table_references(sql: str, path: Path) -> frozenset[str]:
    """Qualified tables a query reads, CTE names excluded."""
    return parse_model(sql, path)[0]


def parse_model(sql: str, path: Path) -> tuple[frozenset[str], frozenset[str]]:
    """The tables a model reads and the `$` parameters it takes, from one parse. Parsing all the models costs about
    half a second, which every tick's fresh process would pay; the result of a parse that succeeded is kept on disk
    by the SQL's hash (and sqlglot's version), so it is only paid when a model changes."""
    key = hashlib.sha256(f"{sqlglot.__version__}\0{sql}".encode()).hexdigest()
    cache = _parse_cache()
    if key not in cache:
        if len(cache) > MAX_CACHED_PARSES:  # old versions of edited models
            cache.clear()
        cache[key] = _parse(sql, path)
        _save_parse_cache(cache)
    deps, params = cache[key]
    return frozenset(deps), frozenset(params)


def _parse(sql: str, path: Path) -> tuple[list[str], list[str]]:
    try:
        tree = sqlglot.parse_one(sql, dialect="duckdb")
    except sqlglot.errors.ParseError as error:
        raise ModelError(f"{path}: SQL does not parse: {str(error).splitlines()[0]}") from None
    if not isinstance(tree, exp.Query):
        raise ModelError(f"{path}: a model is one select statement")
    found = set()
    for scope in traverse_scope(tree):
        for source in scope.sources.values():
            if isinstance(source, exp.Table):
                if not source.db:
                    raise ModelError(
                        f"{path}: table '{source.name}' must be referenced with its schema "
                        f"(raw., staging., intermediate. or marts.)"
                    )
                found.add(f"{source.db}.{source.name}")
    return sorted(found), sorted({p.name for p in tree.find_all(exp.Placeholder)})


def _parse_cache_path() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "goodput" / "model-parses.json"


@cache
def _parse_cache() -> dict[str, tuple[list[str], list[str]]]:
    try:
        return json.loads(_parse_cache_path().read_text())
    except (OSError, ValueError):
        return {}


def _save_parse_cache(cache: dict) -> None:
    """Best effort: an unwritable cache only costs the next process a parse. Written aside, then renamed, so a
    process reading it never sees half a file."""
    path = _parse_cache_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(cache))
        partial.replace(path)
    except OSError:
        pass


_LOADED: dict[Path, tuple[tuple, dict[str, Model]]] = {}


def load_project(root: Path = MODELS_DIR) -> dict[str, Model]:
    """All models by qualified name, checked: references resolve, the layer rule holds, no cycles. Loaded once per
    process while its files stay the same: a tick reads the project twice, and the rollups' SQL alone is 0.15 s."""
    stamp = _files_stamp(root)
    found = _LOADED.get(root)
    if found is None or found[0] != stamp:
        found = _LOADED[root] = (stamp, _load_project(root))
    return dict(found[1])


def _files_stamp(root: Path) -> tuple:
    files = sorted(p for layer in LAYERS if (root / layer).is_dir() for p in (root / layer).iterdir())
    return tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files if p.suffix in (".sql", ".yml"))


def _load_project(root: Path) -> dict[str, Model]:
    models: dict[str, Model] = {}
    configs = {layer: _folder_config(root / layer) for layer in LAYERS}
    rollups = declared_rollups(root)
    for layer in LAYERS:
        folder = root / layer
        for path in sorted(folder.glob("*.sql")):
            if f"{layer}.{path.stem}" in rollups:
                raise ModelError(f"{path}: {layer}.{path.stem} is declared rollup_of in _models.yml: one or the other")
            sql = path.read_text()
            deps, params = parse_model(sql, path)
            model = Model(path.stem, layer, path, sql, deps, configs[layer].get(path.stem, {}), params)
            models[model.table] = model
        for table, rollup in rollups.items():
            name = table.split(".", 1)[1]
            if table.startswith(f"{layer}."):
                sql, path = rollup_sql(name, rollup), folder / "_models.yml"
                deps, params = parse_model(sql, path)
                models[table] = Model(name, layer, path, sql, deps, configs[layer][name], params)
    raw_tables = {f"raw.{name}" for name in SOURCES}
    for model in models.values():
        if model.materialized == "view" and (model.incremental or model.params):
            raise ModelError(f"{model.path}: a view is neither incremental nor parameterised")
        for dep in sorted(model.deps):
            schema = dep.split(".")[0]
            if dep not in models and dep not in raw_tables:
                raise ModelError(f"{model.path}: '{dep}' is neither a model nor a raw table")
            if schema not in ALLOWED_READS[model.layer]:
                raise ModelError(
                    f"{model.path}: a {model.layer} model may not read {dep} "
                    f"(allowed: {', '.join(sorted(ALLOWED_READS[model.layer]))})"
                )
    order = build_order(models)
    for name in order:  # upstream first, so each model's sources are known before its readers'
        model = models[name]
        sources = {d for d in model.deps if d in raw_tables}
        sources |= {s for d in model.deps if d in models for s in models[d].sources}
        reads_lost_work = any(models[d].lost_work or models[d].reads_lost_work for d in model.deps if d in models)
        models[name] = dataclasses.replace(model, sources=frozenset(sources), reads_lost_work=reads_lost_work)
        if model.moves and (
            "time_column" not in model.incremental
            or not model.moves.get("key")
            or not model.moves.get("since")
            or model.lost_work
        ):
            raise ModelError(f"{model.path}: moves needs a time_column, its key columns and a since column")
        if model.lost_work and (
            "time_column" not in model.incremental
            or "align" in model.incremental
            or LOST_KEY not in model.lost_work.get("narrow", [])
        ):
            raise ModelError(
                f"{model.path}: lost work is restated job by job: a time_column, no align, {LOST_KEY} narrowed"
            )
    return models


@cache
def declared_rollups(root: Path = MODELS_DIR) -> dict[str, Rollup]:
    """The rollup declarations alone, without parsing any model: what the semantic layer and `explain` read."""
    configs = {layer: _folder_config(root / layer) for layer in LAYERS}
    try:
        return rollups_of(configs, {layer: root / layer / "_models.yml" for layer in LAYERS})
    except RollupError as error:
        raise ModelError(str(error)) from None


def rollups_from(mart: str, root: Path = MODELS_DIR) -> tuple[tuple[str, ...], dict[str, str]]:
    """The slices a model's rollups keep and each rollup by its bucket (5min, hour, day); none when not rolled up."""
    rollups = declared_rollups(root)
    chain, frontier = {}, {mart}
    while frontier:
        found = {t: r for t, r in rollups.items() if r.of in frontier}
        chain.update({r.every: t for t, r in found.items()})
        frontier = set(found)
    slices = next((r.slices for t, r in rollups.items() if t in chain.values()), ())
    return slices, chain


def build_order(models: dict[str, Model]) -> list[str]:
    """Models in an order where every model comes after what it reads."""
    graph = {name: {d for d in m.deps if d in models} for name, m in models.items()}
    try:
        return list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as error:
        cycle = error.args[1]
        raise ModelError(f"{models[cycle[0]].path}: dependency cycle: {' -> '.join(cycle)}") from None


def _folder_config(folder: Path) -> dict[str, dict]:
    """The YAML beside a folder's SQL: per model description, grain, primary key, incremental settings."""
    path = folder / "_models.yml"
    if not path.exists():
        return {}
    data = read_yaml(path.read_text()) or {}
    models = data.get("models", {})
    if not isinstance(models, dict):
        raise ModelError(f"{path}: 'models' must map model names to their settings")
    try:
        return {name: validated(path, name, entry) for name, entry in models.items()}
    except ValueError as error:
        raise ModelError(str(error)) from None
