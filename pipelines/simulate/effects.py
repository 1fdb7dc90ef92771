"""What incidents and maintenance do to nodes and regions, minute by minute, kept as the segments that set it.

A dense array of nodes by minutes over the whole run costs about 170 MB per effect for a year of the default fleet,
whatever the incidents' length; the segments cost nothing, and the window a reader asks for (a day, an attempt's
span, a node at a minute) is built from them. Segments apply in the order they were added, with the arithmetic a
dense float32 array would have done, so the values are the same to the bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Op = str  # "set", "mul" or "add"


@dataclass(frozen=True)
class Segment:
    rows: np.ndarray | None  # node (or region) indices, None for every row
    start: int
    stop: int
    op: Op
    value: float | bool


class Effect:
    """One effect over rows x minutes: its default everywhere but where a segment set, scaled or added to it.
    Indexed like the dense array it stands for: `[rows, minutes]` with a slice of minutes gives a block, with an
    array of minutes (and rows) gives the values at those points."""

    def __init__(self, n_rows: int, minutes: int, default: float | bool, dtype: type):
        self.n_rows, self.minutes, self.default, self.dtype = n_rows, minutes, default, np.dtype(dtype)
        self.segments: list[Segment] = []
        self.shape = (n_rows, minutes)

    def apply(self, rows, start: int, stop: int, op: Op, value: float | bool) -> None:
        start, stop = max(0, min(start, self.minutes)), max(0, min(stop, self.minutes))
        if stop <= start:
            return
        chosen = None if rows is None else np.unique(np.atleast_1d(np.asarray(rows, np.int64)))
        if chosen is not None and not len(chosen):
            return
        self.segments.append(Segment(chosen, start, stop, op, value))

    def __getitem__(self, key):
        rows, minutes = key
        if isinstance(minutes, slice):
            return self.block(rows, minutes)
        if isinstance(rows, slice):  # every row (or a slice of them) at one minute
            return self.block(rows, slice(int(minutes), int(minutes) + 1))[..., 0]
        return self.points(rows, minutes)

    def __setitem__(self, key, value) -> None:
        """`effect[rows, start:stop] = value`, as on a dense array (rows: a slice of all, an array or one row)."""
        rows, minutes = key
        start, stop, _ = minutes.indices(self.minutes)
        if isinstance(rows, slice):
            rows = None if rows == slice(None) else np.arange(self.n_rows)[rows]
        self.apply(rows, start, stop, "set", value)

    def block(self, rows, minutes: slice) -> np.ndarray:
        """The values of `rows` (a slice, an array or one row) over a slice of minutes."""
        start, stop, step = minutes.indices(self.minutes)
        if step != 1:
            raise ValueError("an effect is read over consecutive minutes")
        picked = np.arange(self.n_rows)[rows]
        out = np.full((np.size(picked), max(0, stop - start)), self.default, self.dtype)
        for s in self.segments:
            lo, hi = max(s.start, start), min(s.stop, stop)
            if hi <= lo:
                continue
            where = np.arange(out.shape[0]) if s.rows is None else np.flatnonzero(np.isin(np.ravel(picked), s.rows))
            if len(where):
                _apply(out, (where[:, None], slice(lo - start, hi - start)), s.op, s.value)
        return out[0] if np.ndim(picked) == 0 else out

    def points(self, rows, minutes) -> np.ndarray:
        """The values at (row, minute) pairs, broadcast like numpy's fancy indexing."""
        rows, minutes = np.broadcast_arrays(np.asarray(rows), np.asarray(minutes))
        out = np.full(rows.shape, self.default, self.dtype)
        for s in self.segments:
            hit = (minutes >= s.start) & (minutes < s.stop)
            if s.rows is not None:
                hit &= np.isin(rows, s.rows)
            if hit.any():
                _apply(out, hit, s.op, s.value)
        return out

    def column(self, minute: int) -> np.ndarray:
        """Every row's value at one minute."""
        return self.block(slice(None), slice(minute, minute + 1))[:, 0]

    def departs(self) -> np.ndarray:
        """Per minute: whether any row's value differs from the default then."""
        out = np.zeros(self.minutes, bool)
        for lo, hi in self._spans():
            out[lo:hi] |= (self.block(slice(None), slice(lo, hi)) != self.default).any(axis=0)
        return out

    def changes(self) -> set[int]:
        """The minutes (after the first) at which some row's value differs from the minute before."""
        found = set()
        for minute in sorted({m for s in self.segments for m in (s.start, s.stop) if 0 < m < self.minutes}):
            if (self.column(minute) != self.column(minute - 1)).any():
                found.add(minute)
        return found

    def _spans(self) -> list[tuple[int, int]]:
        """The minutes the segments cover, merged where they overlap."""
        merged: list[list[int]] = []
        for lo, hi in sorted((s.start, s.stop) for s in self.segments):
            if merged and lo <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], hi)
            else:
                merged.append([lo, hi])
        return [(lo, hi) for lo, hi in merged]


def _apply(out: np.ndarray, where, op: Op, value) -> None:
    if op == "set":
        out[where] = value
    elif op == "mul":
        out[where] *= value
    elif op == "add":
        out[where] += value
    else:
        raise ValueError(f"unknown effect operation {op!r}")
