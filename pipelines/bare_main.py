"""PySpark, on import, exits the process with status 0 when `__main__` is bare (no spec and no file: `python -c`, a
child spawned from `python -m ...`), taking it for a doctest run of its own; Great Expectations imports PySpark
wherever it is installed. Code that may import either in such a process does it inside `main_with_a_file()`."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def main_with_a_file() -> Iterator[None]:
    """A bare `__main__` names a file for the duration (an interactive session, which PySpark allows, is left as is)."""
    main = sys.modules.get("__main__")
    bare = main is not None and getattr(main, "__spec__", None) is None and not hasattr(main, "__file__")
    if bare and not hasattr(sys, "ps1"):
        main.__file__ = "<goodput>"
        try:
            yield
        finally:
            del main.__file__
    else:
        yield
