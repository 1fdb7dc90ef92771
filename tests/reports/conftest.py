"""The reports of the small all-incidents fleet, written once through the command line on a copy of its warehouse."""

import pytest

from pipelines.cli import main
from pipelines.warehouse.publish import clone


@pytest.fixture(scope="session")
def report_db(tmp_path_factory, incidents_db_path):
    path = tmp_path_factory.mktemp("report_db") / "w.duckdb"
    clone(incidents_db_path, path)
    return path


@pytest.fixture(scope="session")
def reports_dir(tmp_path_factory, report_db):
    out = tmp_path_factory.mktemp("reports")
    assert main(["report", "all", "--db", str(report_db), "--out", str(out)]) == 0
    return out


@pytest.fixture()
def incidents_db(incidents_db_path):
    import duckdb

    con = duckdb.connect(str(incidents_db_path), read_only=True)
    yield con
    con.close()
