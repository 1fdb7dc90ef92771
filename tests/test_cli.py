"""End to end through the command line: simulate a small fleet, build it, build again."""

import duckdb

from pipelines.cli import main


def test_simulate_then_build_loads_everything_and_reconciles(tmp_path, capsys, landing):
    db = tmp_path / "w.duckdb"
    assert main(["build", "--landing", str(landing), "--db", str(db), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "gpu_telemetry" in out and "NO" not in out
    con = duckdb.connect(str(db), read_only=True)
    landed = duckdb.execute(f"select count(*) from read_parquet('{landing}/gpu_telemetry/*/*.parquet')").fetchone()[0]
    assert con.execute("select count(*) from raw.gpu_telemetry").fetchone()[0] == landed
    assert con.execute("select count(*) from raw._quarantine").fetchone()[0] == 0
    con.close()
    # a second build of the same landing loads nothing new and duplicates nothing
    assert main(["build", "--landing", str(landing), "--db", str(db), "--quiet"]) == 0
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("select count(*) from raw.gpu_telemetry").fetchone()[0] == landed
    con.close()


def test_simulate_command_writes_landing_and_truth(tmp_path, capsys):
    scenario = tmp_path / "s.yml"
    scenario.write_text(
        "name: tiny\nseed: 1\nstart: 2026-03-02T00:00:00Z\ndays: 1\nfleet: {gpus: 32, nodes: 4}\n"
        "incidents:\n  - {kind: ecc_storm, start: '+2h', duration: 1h}\n"
    )
    assert main(["simulate", "--scenario", str(scenario), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    assert (tmp_path / "out" / "_truth" / "incidents.json").exists()
    assert sorted(p.name for p in (tmp_path / "out" / "gpu_telemetry").iterdir()) == ["date=2026-03-02"]
    assert "trace shape" in capsys.readouterr().out


def test_run_simulates_builds_prints_the_north_star_and_alerts_and_writes_the_reports(tmp_path, capsys):
    """The README's first command, on a tiny fleet instead of the embedded default."""
    scenario = tmp_path / "s.yml"
    scenario.write_text(
        "name: tiny\nseed: 1\nstart: 2026-03-02T00:00:00Z\ndays: 1\nfleet: {gpus: 32, nodes: 4}\n"
        "incidents:\n  - {kind: ecc_storm, start: '+2h', duration: 1h}\n"
    )
    assert main(["run", "--scenario", str(scenario), "--data", str(tmp_path / "data"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "the north star by day" in out and "availability" in out and "open pages and tickets" in out
    for page in ("finance", "health", "warroom", "progress", "index"):
        assert (tmp_path / "data" / "reports" / f"{page}.html").stat().st_size > 0
    assert (tmp_path / "data" / "goodput.duckdb").exists()


def test_a_bad_scenario_is_a_clear_error_not_a_traceback(tmp_path, capsys):
    scenario = tmp_path / "bad.yml"
    scenario.write_text(
        "name: bad\nstart: 2026-03-02T00:00:00Z\ndays: 1\nincidents:\n"
        "  - {kind: alien_invasion, start: '+1h', duration: 1h}\n"
    )
    assert main(["simulate", "--scenario", str(scenario), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "incidents.0.kind" in capsys.readouterr().err


def test_build_of_a_missing_landing_folder_is_a_clear_error(tmp_path, capsys):
    assert main(["build", "--landing", str(tmp_path / "nope"), "--db", str(tmp_path / "w.duckdb"), "--quiet"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_a_build_that_quarantines_much_of_a_source_fails_naming_it(tmp_path, capsys):
    """The tiny fleet's GPU telemetry landed twice under another name: every second row is a duplicate key, half of
    the source's landed rows go to quarantine, which is past the 10 % a build accepts."""
    import shutil

    from tests.fixtures.tiny_fleet import write_tiny_fleet

    landing = tmp_path / "landing"
    write_tiny_fleet(landing)
    (original,) = (landing / "gpu_telemetry").rglob("*.parquet")
    shutil.copy(original, original.with_name("again.parquet"))
    db = tmp_path / "w.duckdb"
    assert main(["build", "--landing", str(landing), "--db", str(db), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "error: gpu_telemetry: 50.0% of" in err and "landed rows quarantined (limit 10%)" in err
    assert "top reasons: duplicate key" in err
    with duckdb.connect(str(db), read_only=True) as con:  # nothing dropped: the rows wait in quarantine
        assert con.execute("select count(*) from raw._quarantine where source = 'gpu_telemetry'").fetchone()[0] > 0
    other = tmp_path / "w2.duckdb"  # a fresh build that allows it
    assert main(["build", "--landing", str(landing), "--db", str(other), "--quiet", "--max-quarantined", "0.6"]) == 0
