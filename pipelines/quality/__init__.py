"""Checks on what the warehouse holds, run as Dagster asset checks: anti-gaming (and, later, data-quality suites)."""
