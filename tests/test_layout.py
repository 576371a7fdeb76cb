"""The rooms of the code stay clear: read from the source, so a stray import fails here and not in production.

- no blueprint imports the application factory or another blueprint (they share ``api.context``, ``api.auth``,
  ``api.visibility``, ``api.imports``);
- the core (``matcher``) imports no web, database or queue library, and the web layer builds no OR-Tools model;
- nothing imports the command line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def imports(path: Path) -> set[str]:
    """Every module a file imports, at any depth of its code (imports inside functions count too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def blueprints() -> set[str]:
    return {f"api.{p.stem}" for p in (ROOT / "api").glob("*.py") if "BLUEPRINTS = " in p.read_text("utf-8")}


def package_files(*packages: str) -> list[Path]:
    return sorted(p for package in packages for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts)


@pytest.mark.parametrize("module", sorted(blueprints()))
def test_a_blueprint_imports_neither_the_factory_nor_another_blueprint(module):
    path = ROOT / (module.replace(".", "/") + ".py")
    assert not (imports(path) & ({"api.app"} | blueprints() - {module}))


def test_the_core_imports_no_web_database_or_queue_library():
    banned = ("flask", "sqlalchemy", "huey", "api", "service", "hubmatch", "models.tables", "models.store",
              "models.repository")
    for path in package_files("matcher"):
        assert not {m for m in imports(path) if m.startswith(banned)}, path


def test_the_web_layer_builds_no_solver_model_and_nothing_imports_the_command_line():
    for path in package_files("api"):
        assert not {m for m in imports(path) if m.startswith(("ortools", "matcher.solvers", "service.tasks"))}, path
    for path in package_files("api", "service", "models", "matcher", "fixtures"):
        assert not {m for m in imports(path) if m.startswith("hubmatch.cli")}, path
