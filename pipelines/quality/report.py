"""The latest data-quality run as a page people can browse: a summary per table, then every expectation with
its result, the rows it saw and a sample of what it did not expect. Self-contained HTML, no scripts."""

from __future__ import annotations

import html

import duckdb

from pipelines.quality.suites import RESULTS

STYLE = """body{font-family:system-ui,sans-serif;margin:2rem;color:#222}table{border-collapse:collapse;margin:1rem 0}
td,th{border:1px solid #ddd;padding:.3rem .6rem;font-size:.9rem;text-align:left}th{background:#f4f4f4}
.pass{background:#e7f6ea}.fail{background:#fde8e8}.off{background:#f0f0f0;color:#666}h1{font-size:1.4rem}"""


def latest_results(con: duckdb.DuckDBPyConnection) -> list[dict]:
    cursor = con.execute(f"select * from {RESULTS} where run_at = (select max(run_at) from {RESULTS}) order by all")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def render(results: list[dict]) -> str:
    tables: dict[str, list[dict]] = {}
    for row in results:
        tables.setdefault(row["table_name"], []).append(row)
    run_at = results[0]["run_at"] if results else "never"
    failed = sum(r["success"] is False for r in results)
    held = sum(r["success"] is True for r in results)
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>goodput data quality</title><style>{STYLE}</style>",
        f"</head><body><h1>Data quality: {held} of {held + failed} expectations hold</h1>",
        _not_connected_line(tables),
        f"<p>Run at {html.escape(str(run_at))} on the newest partition of each table (models/_expectations.yml).</p>",
        "<table><tr><th>table</th><th>expectations</th><th>failed</th></tr>",
    ]
    for table, rows in tables.items():
        bad = sum(r["success"] is False for r in rows)
        state = "off" if all(r["success"] is None for r in rows) else _row_class(True, bad)
        parts.append(
            f"<tr class='{state}'><td><a href='#{html.escape(table)}'>{html.escape(table)}</a>"
            f"</td><td>{len(rows)}</td><td>{bad}</td></tr>"
        )
    parts.append("</table>")
    columns = (
        "expectation",
        "column_name",
        "condition",
        "success",
        "rows_checked",
        "unexpected_count",
        "unexpected_percent",
        "observed_value",
        "sample",
        "error",
    )
    for table, rows in tables.items():
        parts.append(f"<h2 id='{html.escape(table)}'>{html.escape(table)}</h2><table><tr>")
        parts += [f"<th>{c}</th>" for c in columns]
        parts.append("</tr>")
        for row in rows:
            cells = "".join(f"<td>{html.escape('' if row[c] is None else str(row[c]))}</td>" for c in columns)
            parts.append(f"<tr class='{_row_class(row['success'], not row['success'])}'>{cells}</tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    return "".join(parts)


def _row_class(success: bool | None, failed: bool | int) -> str:
    if success is None:
        return "off"
    return "fail" if failed else "pass"


def _not_connected_line(tables: dict[str, list[dict]]) -> str:
    off = [table for table, rows in tables.items() if rows and all(r["success"] is None for r in rows)]
    if not off:
        return ""
    names = ", ".join(html.escape(t) for t in off)
    return f"<p>Not run, because no landing file of their source was ever loaded (not connected): {names}.</p>"
