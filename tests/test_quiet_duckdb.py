"""Commands print JSON on stdout (`bench`, `query`, `explain`, ...), and DuckDB draws a progress bar there for any
statement over two seconds: every connection the package opens must switch it off."""

import ast
from pathlib import Path

import duckdb

from pipelines.warehouse.connection import connect, quiet

PACKAGE = Path(__file__).resolve().parents[1] / "pipelines"


def _is_call(node: ast.AST, owner: str | None, name: str) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    if owner is None:
        return isinstance(func, ast.Name) and func.id == name
    return isinstance(func, ast.Attribute) and func.attr == name and getattr(func.value, "id", None) == owner


def test_every_duckdb_connection_is_opened_through_quiet():
    loud = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text())
        for function in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
            body = list(ast.walk(function))
            if any(_is_call(n, None, "quiet") for n in body):  # quiet(duckdb.connect(...)) or quiet(con) after it
                continue
            loud += [f"{path.name}:{n.lineno}" for n in body if _is_call(n, "duckdb", "connect")]
    assert not loud, f"opened without quiet(): {loud}"


def test_quiet_switches_the_bar_off(tmp_path):
    for con in (quiet(duckdb.connect()), connect(tmp_path / "w.duckdb")):
        assert con.execute("select current_setting('enable_progress_bar')").fetchall() == [(False,)]
        con.close()
