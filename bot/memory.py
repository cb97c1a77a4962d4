"""The process's memory: a long pass's resident size kept flat, and start-up's objects
left out of garbage collection.

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


_frozen = False


def start_up_objects_left_alone() -> None:
    """Leave the objects made so far out of every later garbage collection (once per
    process).

    What start-up made (modules, classes, mappings, the settings) lives as long as the
    process. A full collection traverses all of it, about 60 ms for this program, holding
    the interpreter: the outbox's SMTP connections and the IMAP fetch stand still
    meanwhile, and a round of a thousand requests used to set one off. Only what is made
    later is collected (gc.freeze; cycles among the frozen objects are never freed, which
    is why it happens once).
    """
    global _frozen
    if not _frozen:
        _frozen = True
        gc.freeze()
