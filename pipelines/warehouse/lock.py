"""The writer lock: one writer at a time per warehouse, whoever it is (a manual build, the schedule's tick, a Dagster
materialisation). A second writer waits, then gives up with a message naming the holder. The lock is an flock on a
file of the state folder, so the kernel releases it when its holder dies, even by SIGKILL: nothing to clean up."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from pipelines.warehouse.layout import Layout

DEFAULT_WAIT_S = float(os.environ.get("GOODPUT_WRITER_WAIT", "240"))  # under the 5-minute schedule: ticks never pile up
POLL_S = 0.2

_held: dict[Path, int] = {}  # re-entrant inside one process: a tick's first build takes it once


class WriterBusy(RuntimeError):
    """Another writer holds the warehouse for longer than this one would wait."""


@contextmanager
def writer_lock(layout: Layout, what: str = "goodput", wait_s: float | None = None) -> Iterator[None]:
    path = layout.lock
    if path in _held:
        _held[path] += 1
        try:
            yield
        finally:
            _held[path] -= 1
        return
    layout.state.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        _acquire(fd, path, DEFAULT_WAIT_S if wait_s is None else wait_s)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(_holder(what)).encode(), 0)
        _held[path] = 1
        try:
            yield
        finally:
            del _held[path]
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # closing the descriptor releases the flock


def _acquire(fd: int, path: Path, wait_s: float) -> None:
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise WriterBusy(
                    f"another writer holds {path.parent.name} ({describe_holder(path)}); gave up after {wait_s:.0f} s "
                    "(GOODPUT_WRITER_WAIT or --wait sets how long to wait)"
                ) from None
            time.sleep(POLL_S)


def _holder(what: str) -> dict:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": what or " ".join(os.path.basename(a) for a in sys.argv[:2]),
        "since": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def describe_holder(path: Path) -> str:
    try:
        holder = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        holder = {}
    if not holder:
        return "holder unknown"
    get = holder.get
    return f"{get('command', '?')}, pid {get('pid', '?')} on {get('host', '?')}, since {get('since', '?')}"
