"""The optimisation core of hubmatch: candidate graph, scoring, exact solvers and explanations.

One front door, ``solve(problem) -> Solution``; no web code, no database, no printing.
"""

from matcher.solve import solve

__all__ = ["solve"]
