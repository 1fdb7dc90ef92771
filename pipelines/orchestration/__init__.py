"""Running the Definitions in-process: what the CLI calls, so there is no second code path beside Dagster."""
