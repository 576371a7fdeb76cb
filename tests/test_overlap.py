"""``hubmatch.overlap``: the input is loaded in a forked child while the parent imports, with the child's result,
its expected errors and its failures all ending as a plain in-process load would."""

from __future__ import annotations

import os
import pickle
import signal
import sys

import pytest

from hubmatch.overlap import load_while_importing
from models import Fault, ProblemError

NOT_YET_IMPORTED = "wave"  # a standard-library module nothing here loads, so the fork path is taken


@pytest.fixture(autouse=True)
def _fresh_module() -> None:
    sys.modules.pop(NOT_YET_IMPORTED, None)


def test_the_result_comes_from_a_child_and_the_modules_are_imported_here() -> None:
    parent = os.getpid()
    child = load_while_importing(os.getpid, [NOT_YET_IMPORTED], ())
    assert child != parent
    assert NOT_YET_IMPORTED in sys.modules


def test_nothing_forks_when_the_modules_are_already_loaded() -> None:
    assert load_while_importing(os.getpid, ["json"], ()) == os.getpid()


def test_an_expected_error_in_the_child_is_raised_here_with_its_faults() -> None:
    faults = [Fault("advisers[0] (a0)", "lat", "Must be between -90 and 90."), Fault("schools[1] (s0)", "id", "dup")]

    def invalid() -> None:
        raise ProblemError(faults)

    with pytest.raises(ProblemError) as caught:
        load_while_importing(invalid, [NOT_YET_IMPORTED], (ProblemError,))
    assert caught.value.faults == tuple(faults)
    assert str(caught.value) == "advisers[0] (a0): lat: Must be between -90 and 90. (and 1 more)"


def test_an_unexpected_failure_in_the_child_is_redone_here() -> None:
    parent = os.getpid()

    def fails_in_a_child() -> str:
        if os.getpid() != parent:
            raise RuntimeError("child only")
        return "loaded here"

    assert load_while_importing(fails_in_a_child, [NOT_YET_IMPORTED], (ProblemError,)) == "loaded here"


def test_a_problem_error_pickles_with_its_faults() -> None:
    err = ProblemError([Fault("schools[0] (s)", "lat", "Not a valid number.")])
    back = pickle.loads(pickle.dumps(err))
    assert (type(back), back.faults, str(back)) == (ProblemError, err.faults, str(err))


def test_a_child_killed_mid_load_is_redone_here() -> None:
    parent = os.getpid()

    def killed_in_a_child() -> str:
        if os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
        return "loaded here"

    assert load_while_importing(killed_in_a_child, [NOT_YET_IMPORTED], (ProblemError,)) == "loaded here"
