"""The domain model of hubmatch: validated problems in, plain solutions out."""

from models.domain import (
    ROLES,
    Adviser,
    Assignment,
    CornerstoneEmployer,
    Hub,
    Idle,
    Pair,
    Policy,
    Problem,
    School,
    Site,
    Solution,
    Unmatched,
    Weights,
)
from models.errors import Fault, ProblemError
from models.schemas import dump_solution, load_previous, load_problem

__all__ = [
    "ROLES",
    "Adviser",
    "Assignment",
    "CornerstoneEmployer",
    "Fault",
    "Hub",
    "Idle",
    "Pair",
    "Policy",
    "Problem",
    "ProblemError",
    "School",
    "Site",
    "Solution",
    "Unmatched",
    "Weights",
    "dump_solution",
    "load_previous",
    "load_problem",
]
