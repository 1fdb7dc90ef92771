"""The vocabulary of a source contract: columns with types, units and bounds, keys and a grain.

Every adapter (the simulator included) writes to these contracts, and ingest enforces them, so the shape of the data
is declared once and read everywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

# Contract types are DuckDB type names; Arrow types are what adapters write to landing Parquet.
ARROW_TYPES: dict[str, pa.DataType] = {
    "VARCHAR": pa.string(),
    "BIGINT": pa.int64(),
    "INTEGER": pa.int32(),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
    "DATE": pa.date32(),
    "TIMESTAMP": pa.timestamp("us"),
}


@dataclass(frozen=True)
class Column:
    """One column: DuckDB type, unit, meaning and the bounds a valid value keeps."""

    name: str
    dtype: str
    description: str
    unit: str | None = None
    nullable: bool = False
    min: float | None = None
    max: float | None = None
    allowed: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.dtype not in ARROW_TYPES:
            raise ValueError(f"column {self.name}: unknown type {self.dtype}")

    @property
    def arrow_type(self) -> pa.DataType:
        return ARROW_TYPES[self.dtype]


@dataclass(frozen=True)
class Reference:
    """A column whose values must exist in another source's column (referential integrity at ingest)."""

    column: str
    source: str
    source_column: str


@dataclass(frozen=True)
class Source:
    """A source contract: what one row means, its columns, its key and its event-time column."""

    name: str
    grain: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    time_column: str | None
    references: tuple[Reference, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        missing = [k for k in (*self.key, *([self.time_column] if self.time_column else [])) if k not in names]
        if missing:
            raise ValueError(f"source {self.name}: key/time columns {missing} are not declared")

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"source {self.name} has no column {name!r}")

    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.arrow_type, nullable=c.nullable) for c in self.columns])
