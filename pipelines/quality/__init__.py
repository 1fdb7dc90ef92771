"""Checks on what the warehouse holds, run as Dagster asset checks: data-quality suites and anti-gaming."""
