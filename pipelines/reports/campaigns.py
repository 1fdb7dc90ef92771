"""The campaign control table: one row per (team, workload class) the platform tracks. A pair registers itself the
first time a job of it arrives, inactive until someone activates it and says how many jobs to expect. It lives in
control.campaigns, outside the rebuilt models, so that what people set survives every rebuild."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb

TABLE = "control.campaigns"


def ensure_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists control")
    con.execute(
        f"create table if not exists {TABLE} (team varchar not null, workload_class varchar not null, "
        "first_job_at timestamp, registered_at timestamp, is_active boolean not null default false, "
        "jobs_expected bigint, activated_at timestamp, primary key (team, workload_class))"
    )


def register_new(con: duckdb.DuckDBPyConnection, now: datetime | None = None) -> int:
    """Add every (team, workload class) seen in the job metadata and not yet registered; returns how many."""
    ensure_table(con)
    now = now or datetime.now(UTC).replace(tzinfo=None)
    before = con.execute(f"select count(*) from {TABLE}").fetchall()[0][0]
    con.execute(
        f"insert into {TABLE} (team, workload_class, first_job_at, registered_at) "
        "select team, workload_class, min(submitted_at), ? from staging.stg_jobs__submissions "
        f"group by all on conflict do nothing",
        [now],
    )
    return con.execute(f"select count(*) from {TABLE}").fetchall()[0][0] - before


def activate(
    con: duckdb.DuckDBPyConnection, team: str, workload_class: str, jobs_expected: int | None, active: bool = True
) -> None:
    """Switch a registered campaign on (with the jobs it should run) or off."""
    ensure_table(con)
    found = con.execute(
        f"select count(*) from {TABLE} where team = ? and workload_class = ?", [team, workload_class]
    ).fetchall()[0][0]
    if not found:
        known = con.execute(f"select team || '/' || workload_class from {TABLE} order by 1").fetchall()
        raise ValueError(
            f"no campaign {team}/{workload_class} is registered; registered: {', '.join(r[0] for r in known) or 'none'}"
        )
    con.execute(
        f"update {TABLE} set is_active = ?, jobs_expected = coalesce(?, jobs_expected), "
        "activated_at = case when ? then ? else activated_at end where team = ? and workload_class = ?",
        [active, jobs_expected, active, datetime.now(UTC).replace(tzinfo=None), team, workload_class],
    )


def listed(con: duckdb.DuckDBPyConnection):
    """Every campaign, the active ones first."""
    return con.sql(f"select * from {TABLE} order by is_active desc, team, workload_class").pl()
