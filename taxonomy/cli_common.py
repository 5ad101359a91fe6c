"""Options and output helpers shared by the `taxo` command modules (:mod:`taxonomy.cli` and the sub-apps it
registers). It imports no command module, so every command module can import it without a cycle; the consoles
are taken from :mod:`taxonomy.cli` when used (tests adjust their width there)."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Optional

import typer

DbOpt = Annotated[
    Optional[str],
    typer.Option(
        "--db",
        envvar="TAXO_DATABASE_URL",
        help="Database URL or SQLite file path [default: sqlite:///taxonomy.db; env TAXO_DATABASE_URL]",
        show_default=False,
        show_envvar=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or chatter; results only.")]
CacheOpt = Annotated[
    Optional[str],
    typer.Option(
        "--cache-dir",
        envvar="TAXO_CACHE_DIR",
        help="Embedding cache directory [default: $XDG_CACHE_HOME/taxo; env TAXO_CACHE_DIR]",
        show_default=False,
        show_envvar=False,
    ),
]
AuthorOpt = Annotated[Optional[str], typer.Option(help="Who made the change", envvar="TAXO_AUTHOR", show_envvar=False)]


def _emit_json(obj) -> None:
    data = obj.to_dict() if hasattr(obj, "to_dict") else obj
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def _esc(text: str) -> str:
    from rich.markup import escape

    return escape(text or "")


class _Console:
    """taxonomy.cli's console of that name, looked up when used."""

    def __init__(self, name: str):
        self.name = name

    def print(self, *args, **kwargs) -> None:
        from taxonomy import cli

        getattr(cli, self.name).print(*args, **kwargs)


out = _Console("out")
err = _Console("err")
