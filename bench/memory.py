"""Resident memory of this process, read from /proc, with a resettable peak.

tracemalloc sees only Python's allocator, not OR-Tools' or HiGHS' C++ heaps, so the benchmark measures RSS in a
fresh subprocess instead. Linux lets a process reset its own peak (``5`` into /proc/self/clear_refs), which turns
the peak into "peak during this step" rather than "peak since start".
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import resource
from pathlib import Path

_STATUS = Path("/proc/self/status")


def rss_mb() -> float:
    """Current resident set size in MB."""
    return _status_kb("VmRSS") / 1024


def peak_mb() -> float:
    """Peak resident set size in MB since the process started or since the last ``reset_peak``."""
    kb = _status_kb("VmHWM")
    return (kb or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024


def reset_peak() -> bool:
    """Collect garbage, hand freed heap back to the kernel and reset the peak to the current RSS.

    Without ``malloc_trim`` a step could reuse pages an earlier step freed but glibc kept, and look free of cost.
    Returns False when the kernel does not allow the reset.
    """
    gc.collect()
    _trim()
    try:
        Path("/proc/self/clear_refs").write_text("5", encoding="ascii")
    except OSError:
        return False
    return True


def _trim() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _status_kb(key: str) -> int:
    try:
        for line in _STATUS.read_text(encoding="ascii").splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0
