"""Fixtures of the review page tests (defined in ui_harness, next to this file)."""

from ui_harness import served

__all__ = ["served"]
