"""The cyclic garbage collector held off around bulk work, then restored as it was.

Building a national round's records, or solving it, creates hundreds of thousands of containers and no reference
cycles worth collecting (reference counting frees the rest), so full collections only rescan live objects for
nothing. Where it is paused and why is said where it is used.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Run the block (or, as a decorator, the function) without the cyclic collector, then restore its state."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
