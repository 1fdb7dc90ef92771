"""Source contracts: one declared schema per source, read by adapters, the simulator and ingest."""

from pipelines.contracts.schema import Column, Reference, Source
from pipelines.contracts.sources import SOURCES

__all__ = ["Column", "Reference", "Source", "SOURCES"]
