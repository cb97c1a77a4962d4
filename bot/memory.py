"""The process's memory: a long pass's resident size kept flat, and what exists before a
pass or a round left out of garbage collection.

glibc serves large allocations (a fetched mail's bytes, a photo) with mmap and gives them
back on free, but after the first such free it raises its mmap threshold up to 32 MB, and
later megabyte buffers come from the heap arenas instead, where freed blocks between live
ones are not returned to the system. With a fetching thread (its own arena) allocating and
this thread freeing, the resident size of a pass over thousands of mails with photos grows
with the pass. A fixed threshold keeps every buffer over it on mmap, returned when freed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger("intake")

#: glibc's mallopt parameter number for the mmap threshold
_M_MMAP_THRESHOLD = -3
#: buffers from this size on are mapped and unmapped on their own
THRESHOLD = 256 * 1024

_done = False


def large_buffers_back_to_the_system() -> bool:
    """Fix glibc's mmap threshold (once per process); False where there is no glibc."""
    global _done
    if _done:
        return True
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        ok = bool(libc is not None and libc.mallopt(_M_MMAP_THRESHOLD, THRESHOLD))
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to tune
        ok = False
    _done = ok
    return ok


_holding = threading.Lock()
_held = 0  # passes and rounds under way (the daemon runs both at once)


@contextmanager
def collector_skips_what_exists() -> Iterator[None]:
    """While a pass or a round runs, the garbage collector leaves alone what existed when
    the first of them began; afterwards everything is collectable again.

    What lives before it (modules, classes, mappings, the settings, the daemon's state)
    stays. A full collection traverses all of it, about 60 ms for this program, holding
    the interpreter: the outbox's SMTP connections and the IMAP fetch stand still
    meanwhile, and a pass or a round makes enough objects to set off several. gc.freeze
    takes them out of it; gc.unfreeze hands them back when the last one ends, so nothing
    that became garbage meanwhile is kept for good.
    """
    global _held
    with _holding:
        if _held == 0:
            gc.freeze()
        _held += 1
    try:
        yield
    finally:
        with _holding:
            _held -= 1
            if _held == 0:
                gc.unfreeze()
