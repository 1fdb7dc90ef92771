"""The SQL model layer: finds models, parses their dependencies, runs them, makes them Dagster assets."""
