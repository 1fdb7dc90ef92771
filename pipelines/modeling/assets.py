"""Every SQL model as a Dagster asset, its dependencies taken from the parsed SQL."""

from __future__ import annotations

from dagster import AssetKey, AssetsDefinition, MaterializeResult, asset

from pipelines.modeling.project import Model, load_project
from pipelines.modeling.runner import run_model
from pipelines.resources import Warehouse


def model_asset(model: Model) -> AssetsDefinition:
    description = model.config.get("description") or model.sql.splitlines()[0].lstrip("- ")

    @asset(
        key=AssetKey([model.layer, model.name]),
        deps=[AssetKey(dep.split(".")) for dep in sorted(model.deps)],
        group_name=model.layer,
        kinds={"duckdb", "sql"},
        description=description,
        metadata={"file": str(model.path.name), "grain": model.sql.splitlines()[0].lstrip("- ")},
    )
    def _model(warehouse: Warehouse) -> MaterializeResult:
        with warehouse.connect() as con:
            rows = run_model(con, model, warehouse.window, lost_from=warehouse.lost_since)
        return MaterializeResult(metadata={"rows": rows})

    return _model


MODEL_ASSETS = [model_asset(m) for m in load_project().values()]
