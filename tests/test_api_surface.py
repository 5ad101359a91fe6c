"""Every `taxo` command is a thin layer over the function of the same name in :mod:`taxonomy.api` (the naming rule
is in that module's docstring), and the command modules reach the library only through it."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest
import typer.main

import taxonomy.api as api
from taxonomy.cli import app

TAXONOMY = Path(api.__file__).resolve().parent


def leaf_commands() -> list[tuple[tuple[str, ...], object]]:
    """(path, command) of every runnable command of `taxo`, walking the click tree typer builds (typer's bundled
    click: a group is what has sub-commands)."""
    out = []

    def walk(cmd, path):
        if getattr(cmd, "commands", None):
            for name, sub in cmd.commands.items():
                walk(sub, (*path, name))
        else:
            out.append((path, cmd))

    walk(typer.main.get_command(app), ())
    return out


def api_name(path: tuple[str, ...]) -> str:
    """The function of `taxonomy.api` a command is a layer over (the rule of the api docstring)."""
    if len(path) == 1:
        return path[0]
    group, sub = path
    if group == "edit":
        return sub  # taxo edit V rename -> api.rename(V, ...)
    if group == "analyze":
        return "analyze"  # taxo analyze V prevalence -> api.analyze(V, "prevalence", ...)
    return f"{group}_{sub}"  # taxo review push -> api.review_push


def test_every_command_has_its_function_in_the_api_and_calls_it():
    commands = leaf_commands()
    assert len(commands) >= 43  # 22 top-level commands, 7 edits, 5 validate, 3 review, 6 analyses
    missing, not_called = [], []
    for path, cmd in commands:
        name = api_name(path)
        fn = getattr(api, name, None)
        if not callable(fn) or name not in api.__all__:
            missing.append(" ".join(path))
            continue
        source = inspect.getsource(cmd.callback)
        if f"api.{name}(" not in source:
            not_called.append(f"{' '.join(path)} (api.{name})")
    assert not missing, f"commands without a function in taxonomy.api: {missing}"
    assert not not_called, f"commands that do not call their api function directly: {not_called}"


def test_the_analyze_commands_are_the_analyses():
    from taxonomy.analyze import ANALYSES

    assert sorted(p[1] for p, _ in leaf_commands() if p[0] == "analyze") == sorted(ANALYSES)


def test_api_all_names_exist():
    assert sorted(n for n in api.__all__ if not hasattr(api, n)) == []
    assert len(api.__all__) == len(set(api.__all__))


def cli_modules() -> list[Path]:
    return sorted(TAXONOMY.glob("cli*.py"))


def test_command_modules_import_only_the_api_and_their_helpers():
    """cli.py and cli_<group>.py import the library only as `taxonomy.api` (cli_common and cli_table are the
    CLI's own helpers); no command module imports another one's private names, and none imports taxonomy.cli."""
    helpers = {"taxonomy.cli_common", "taxonomy.cli_table"}
    wrong = []
    for path in cli_modules():
        if path.stem in ("cli_common", "cli_table"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in ("taxonomy", "review"):
                names = [a.name for a in node.names]
                if node.module == "taxonomy":
                    ok = all(n == "api" or n.startswith("cli_") or n == "__version__" for n in names)
                else:
                    ok = node.module in helpers or node.module == "taxonomy.api"
                ok = ok and not any(n.startswith("_") and n != "__version__" for n in names)
                if not ok:
                    wrong.append(f"{path.name}:{node.lineno} from {node.module} import {', '.join(names)}")
            elif isinstance(node, ast.Import):
                wrong += [f"{path.name}:{node.lineno} import {a.name}" for a in node.names
                          if a.name.startswith(("taxonomy", "review"))]
    assert not wrong, wrong


def test_the_command_modules_do_not_import_each_other_in_a_circle():
    """Only taxonomy.cli imports the cli_<group> modules; they import cli_common (which imports no command
    module), never taxonomy.cli."""
    for path in cli_modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        imported |= {f"taxonomy.{a.name}" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                     and n.module == "taxonomy" for a in n.names}
        if path.stem == "cli":
            continue
        assert "taxonomy.cli" not in imported, path.name
        others = {m for m in imported if m and m.startswith("taxonomy.cli_")} - {"taxonomy.cli_common",
                                                                                  "taxonomy.cli_table"}
        assert not others, f"{path.name} imports {others}"


def test_llm_options_from_the_command_line():
    from taxonomy.errors import UsageError

    opts = api.LLMOptions.from_cli(model="m", concurrency=2, price="3,15")
    assert opts.summarizer_kwargs() == {"model": "m", "base_url": None, "api_key_env": None, "concurrency": 2,
                                        "max_calls": None, "max_cost": None, "price": (3.0, 15.0)}
    assert api.LLMOptions.from_cli(price=" ").price is None
    with pytest.raises(UsageError, match="--llm-price '3': give USD per million input,output tokens, e.g. 3,15"):
        api.LLMOptions.from_cli(price="3")
