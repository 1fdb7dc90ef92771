"""Reports people look at: finance, cluster health, war room, campaign progress and an index, as self-contained
Plotly HTML pages written from the warehouse (Dagster assets on a schedule, and `goodput report`)."""
