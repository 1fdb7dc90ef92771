"""A build that fails says why: the innermost error of the failed step, not only Dagster's "step ... failed"
(session 17: a sweep's build on a full disk said only 'Execution of step "marts__fct_jobs__gaming_flags" failed.')."""

import duckdb
import pytest

from pipelines.orchestration.build import BuildError, build
from tests.fixtures.tiny_fleet import write_tiny_fleet


def test_a_failed_model_step_names_its_cause(tmp_path, monkeypatch):
    import pipelines.modeling.assets as assets

    def full_disk(*args, **kwargs):
        raise duckdb.IOException('Could not write file "work.duckdb": No space left on device')

    monkeypatch.setattr(assets, "run_model", full_disk)
    write_tiny_fleet(tmp_path / "landing")
    with pytest.raises(BuildError) as error:
        build(tmp_path / "landing", tmp_path / "w.duckdb", progress=False)
    message = str(error.value)
    assert message.startswith("build failed: Execution of step")
    assert "No space left on device" in message, message
