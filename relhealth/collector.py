"""Python's cyclic garbage collector paused while one large piece of work runs."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for a while. Reading a table, scoring it, loading, writing and saving a
    workbook make hundreds of thousands of objects and almost no cycles to collect, yet each full pass of the
    collector walks every object alive: at 10,000 accounts that was about a fifth of the time of the workbook
    steps, and up to 80 ms of a whole-table Excel function call. Reference counting still frees everything as
    usual; only the cycle search waits. Nested pauses are fine: the outermost one turns the collector back on."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
