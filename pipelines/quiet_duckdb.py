"""DuckDB draws a progress bar on stdout for any statement over two seconds, which would break the commands that
print JSON there (`bench`, `query`, `explain`, ...): every connection the package opens goes through `quiet`. A
module with no imports of its own, so that the benchmark's references use it without the warehouse's imports."""


def quiet(con):
    """The connection, with the progress bar off (DuckDB 2 refuses it as a connect-time config option)."""
    import duckdb  # already loaded by whoever opened `con`

    try:
        con.execute("set enable_progress_bar = false")
    except duckdb.InvalidInputException:  # in Jupyter without ipywidgets DuckDB refuses to touch the setting
        pass
    return con
