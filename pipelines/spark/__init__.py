"""The same SQL models on Apache Spark: transpiled by sqlglot, run from the same landing files and contracts."""
