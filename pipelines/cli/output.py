"""How commands print: frames as an aligned table, CSV or JSON (times as ISO UTC), and small formatting helpers."""

from __future__ import annotations


def print_frame(frame, fmt: str) -> None:
    import json

    import polars as pl

    frame = frame.with_columns(pl.col(pl.Datetime).dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    if fmt == "json":
        print(json.dumps(frame.to_dicts(), indent=1))
    elif fmt == "csv":
        print(frame.write_csv(), end="")
    else:
        rows = [
            [f"{v:.4f}" if isinstance(v, float) else ("" if v is None else str(v)) for v in row]
            for row in frame.iter_rows()
        ]
        print_table(frame.columns, rows)


def print_table(header: list[str], rows: list[list]) -> None:
    """Columns padded to their widest cell, the first left-aligned and the rest right-aligned (numbers line up)."""
    cells = [header] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for index, row in enumerate(cells):
        print("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))))
        if index == 0:
            print("  ".join("-" * w for w in widths))


def optional(value: float | None, fmt: str) -> str:
    return "" if value is None else fmt.format(value)


def shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."
