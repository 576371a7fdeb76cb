"""Read and validate the input in a forked child while this process imports the solver.

On a national round of 5,000 schools and 5,000 advisers the solver's imports (OR-Tools, scipy, numpy) take about
a third of a second and reading and validating the file about a tenth (``load_problem``'s fast path); they share
nothing and the machine has two cores, so side by side they cost the slower of the two plus the ~0.02 s of handing
the validated problem back through a pipe (pickled a column per field: ``Problem.__reduce__``), not their sum.

Only a fresh command process forks: when the modules are already loaded (tests, a worker that solved before)
there is nothing to overlap, and a process that may hold other threads is never forked. A child that dies or
meets an unexpected error hands back nothing, and the parent then loads the input itself, so errors and their
tracebacks are exactly those of a plain run.
"""

from __future__ import annotations

import importlib
import os
import pickle
import sys
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def load_while_importing(load: Callable[[], T], modules: Sequence[str], expected: tuple[type[Exception], ...]) -> T:
    """``load()``, run in a forked child while ``modules`` are imported here; ``expected`` errors raised by
    ``load`` are re-raised here as they are (they must pickle)."""
    if all(name in sys.modules for name in modules) or not hasattr(os, "fork"):
        _import(modules)
        return load()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child ends in os._exit, which coverage cannot follow
        os.close(read_end)
        _child(load, expected, write_end)
    os.close(write_end)
    _import(modules)
    with os.fdopen(read_end, "rb") as pipe:
        try:
            ok, value = pickle.load(pipe)
        except (EOFError, pickle.UnpicklingError):  # the child sent nothing, or died while sending
            ok, value = None, None
    os.waitpid(pid, 0)
    if ok is None:
        return load()
    if not ok:
        raise value
    return value


def _child(load: Callable[[], object], expected: tuple[type[Exception], ...], write_end: int) -> None:
    """Send (True, result) or (False, expected error) and exit; on anything else exit having sent nothing."""
    code = 1
    try:
        try:
            outcome = (True, load())
        except expected as err:
            outcome = (False, err)
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL))
        code = 0
    finally:  # never return into the parent's code: the parent runs load() again and raises what it raises
        os._exit(code)


def _import(modules: Sequence[str]) -> None:
    for name in modules:
        importlib.import_module(name)
