"""What a flow round and the command line load: no scipy on the flow path, and no other command's module (nor
pyproj, openpyxl, the solvers) before ``hubmatch solve`` reads its input. Each check runs in a fresh interpreter,
since this one has imported everything already."""

from __future__ import annotations

import argparse
import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import CENTRE, adviser, document, north, school

from hubmatch import cli

ROOT = Path(__file__).resolve().parents[1]
# what no command needs before it reads its input, and what ``solve`` loads only while the input is validated
NOT_BEFORE_INPUT = ("scipy", "ortools", "pyproj", "openpyxl", "sqlalchemy", "flask", "matcher", "hubmatch.engaged",
                    *cli.LAZY_COMMANDS.values())


def modules_after(code: str) -> set[str]:
    """The modules loaded once ``code`` has run in a fresh interpreter (which prints nothing else)."""
    script = f"import sys\n{code}\nprint(' '.join(sorted(sys.modules)))"
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT)
    return set(run.stdout.splitlines()[-1].split())


def loaded(modules: set[str], banned: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == b or m.startswith(b + ".") for b in banned))


def test_a_flow_round_imports_no_scipy() -> None:
    code = "import matcher, sys; assert not any(m.split('.')[0] == 'scipy' for m in sys.modules)"
    subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, cwd=ROOT)


def module_level_imports(path: Path) -> set[str]:
    """The modules a file imports when it is imported (not those its functions import when they run)."""
    found: set[str] = set()
    stack: list[ast.AST] = [ast.parse(path.read_text(encoding="utf-8"))]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            stack.extend(ast.iter_child_nodes(node))
    return found


def test_only_the_candidates_bring_scipy_onto_the_flow_path() -> None:
    """Every module of the project that ``import matcher`` loads imports no scipy when it is imported: gaps,
    recommend and the MIP import it in the code that runs them."""
    ours = [m for m in modules_after("import matcher") if m.split(".")[0] in ("matcher", "models", "hubmatch")]
    assert "matcher.explain" in ours and "matcher.solvers.flow" in ours
    with_scipy = {}
    for name in ours:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None
        found = loaded(module_level_imports(Path(spec.origin)), ("scipy",))
        if found:
            with_scipy[name] = found
    assert with_scipy == {}


def test_solve_help_loads_no_other_command() -> None:
    assert loaded(modules_after(help_of("solve")), NOT_BEFORE_INPUT) == []


def test_solve_reads_its_input_before_loading_the_solver_or_other_commands(tmp_path: Path) -> None:
    """The modules loaded when ``hubmatch solve`` starts reading its file (in the forked child that validates it,
    while the parent imports the solver), recorded by wrapping the reader; the round is solved all the same."""
    problem, out, seen = tmp_path / "p.json", tmp_path / "s.json", tmp_path / "seen.txt"
    problem.write_text(json.dumps(document([school("s", *CENTRE)], [adviser("a", *north(2))])), encoding="utf-8")
    code = (
        "from pathlib import Path\nfrom hubmatch import cli\nread = cli._load_inputs\n"
        "def spy(args):\n"
        f"    Path({str(seen)!r}).write_text(' '.join(sorted(sys.modules)))\n"
        "    return read(args)\n"
        "cli._load_inputs = spy\n"
        f"assert cli.main(['solve', {str(problem)!r}, '-o', {str(out)!r}]) == 0"
    )
    after = modules_after(code)
    assert "matcher" in after and "hubmatch.engaged" in after
    assert loaded(set(seen.read_text(encoding="utf-8").split()), NOT_BEFORE_INPUT) == []
    assert [a["partner"] for a in json.loads(out.read_text(encoding="utf-8"))["assignments"]] == ["a"]


@pytest.mark.parametrize("module", sorted(set(cli.LAZY_COMMANDS.values())))
def test_the_lazy_commands_are_those_their_modules_define(module: str) -> None:
    sub = argparse.ArgumentParser().add_subparsers()
    importlib.import_module(module).add_parser(sub)
    assert sorted(sub.choices) == sorted(c for c, m in cli.LAZY_COMMANDS.items() if m == module)


def help_of(command: str) -> str:
    """Code that prints the help of ``command`` (into nothing) and returns, as ``hubmatch COMMAND --help`` does."""
    return (
        "import contextlib, io\nfrom hubmatch.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        f"    main([{command!r}, '--help'])"
    )


@pytest.mark.parametrize("command", sorted(cli.LAZY_COMMANDS))
def test_a_lazy_command_loads_its_own_module_only(command: str) -> None:
    own = cli.LAZY_COMMANDS[command]
    modules = modules_after(help_of(command))
    assert own in modules
    assert loaded(modules, tuple(set(cli.LAZY_COMMANDS.values()) - {own})) == []


def test_the_full_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    listed = capsys.readouterr().out
    every = ("solve", "demo", "fixture", "validate", "serve", "worker", "token", "db", "hub", *cli.LAZY_COMMANDS)
    for command in every:
        assert f"\n    {command} " in listed or f"\n    {command}\n" in listed, command
