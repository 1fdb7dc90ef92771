"""Adapters: real exporter and scheduler output (dcgm-exporter, nvidia-smi, node_exporter, Slurm sacct, Kubernetes,
per-worker step timings) mapped onto the source contracts and written as landing Parquet."""
