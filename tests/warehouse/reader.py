"""A reader process, as an analyst's notebook or a BI tool is one: `hold` keeps one read-only connection and answers
`query`/`reopen`/`quit` on standard input; `loop` opens, queries and closes until a stop file appears. Each prints one
JSON line per read: the snapshot's generation, the alert and row counts, and rows whose losses do not add up."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import duckdb

READ = """
select
    (select generation from control.snapshot) as generation,
    (select count(*) from alerts.alerts) as alerts,
    (select count(*) from marts.fct_goodput__5min) as rows,
    (select max(bucket_at)::varchar from marts.fct_goodput__5min) as newest,
    (select count(*) from marts.fct_goodput__5min  -- availability's losses add up to what it lost
     where abs(paid_gpu_min - healthy_gpu_min - loss_maintenance_gpu_min - loss_gpu_fault_gpu_min
               - loss_unobserved_gpu_min) > 1e-6) as identity_broken,
    (select count(*) from marts.fct_goodput__5min
     where not (paid_gpu_min >= healthy_gpu_min and healthy_gpu_min >= allocated_gpu_min
       and allocated_gpu_min >= retained_gpu_min and retained_gpu_min >= productive_gpu_min)) as nesting_broken
"""


def read(con) -> dict:
    columns = ["generation", "alerts", "rows", "newest", "identity_broken", "nesting_broken"]
    return dict(zip(columns, con.execute(READ).fetchall()[0], strict=True))


def emit(record: dict) -> None:
    print(json.dumps(record), flush=True)


def hold(db: str) -> None:
    con = duckdb.connect(db, read_only=True)
    emit(read(con))
    for line in sys.stdin:
        command = line.strip()
        if command == "reopen":
            con.close()
            con = duckdb.connect(db, read_only=True)
        if command == "quit":
            break
        try:
            emit(read(con))
        except duckdb.Error as error:
            emit({"error": f"{type(error).__name__}: {error}"})
    con.close()


def loop(db: str, stop: str) -> None:
    while not Path(stop).exists():
        try:
            with duckdb.connect(db, read_only=True) as con:
                emit(read(con))
        except duckdb.Error as error:
            emit({"error": f"{type(error).__name__}: {error}"})
        time.sleep(0.3)  # a notebook re-running a cell, not a busy loop starving the writers of both cores


if __name__ == "__main__":
    {"hold": lambda: hold(sys.argv[2]), "loop": lambda: loop(sys.argv[2], sys.argv[3])}[sys.argv[1]]()
