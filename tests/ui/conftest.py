"""Fixtures of the review page tests (defined in ui_harness, next to this file)."""

from ui_harness import served, served_wide

__all__ = ["served", "served_wide"]
