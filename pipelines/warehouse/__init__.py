"""Where the warehouse lives and how writers and readers share it.

Writers (build, tick, Dagster, `quality`, `campaign`, `ack`) take the writer lock and work in a private DuckDB file;
after each success they publish a finished snapshot: immutable Parquet parts and a small DuckDB file of views over
them, swapped in by renaming a link. Readers open the published path read-only and never see a lock or half a tick.
"""

from pipelines.warehouse.layout import Layout
from pipelines.warehouse.lock import WriterBusy, writer_lock

__all__ = ["Layout", "WriterBusy", "writer_lock"]
