"""Options, consoles and output helpers shared by the `taxo` command modules (:mod:`taxonomy.cli` and the sub-apps
it registers). It imports no command module, so every command module can import it without a cycle."""

from __future__ import annotations

import json
import sys
from contextlib import nullcontext
from typing import Annotated, Optional

import typer
from rich.console import Console

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
BranchOpt = Annotated[
    Optional[str], typer.Option(help="Advance this branch (it must point at the base version, or not exist yet)")
]
MessageOpt = Annotated[str, typer.Option("--message", "-m", help="Version message")]


def command_group(help: str) -> typer.Typer:  # noqa: A002 - typer's name
    """A group of commands (`taxo edit`, `taxo review`, ...): its help, and the help again when run bare."""
    return typer.Typer(help=help, no_args_is_help=True)


#: The consoles every command prints on (results on ``out``, chatter on ``err``); tests set their width.
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def progress(quiet: bool, as_json: bool):
    """A progress display on stderr for a long command (a context manager giving a
    :class:`taxonomy.progress.Progress`), or None when quiet, printing JSON, or not on a terminal."""
    if quiet or as_json or not sys.stderr.isatty():
        return nullcontext(None)
    from taxonomy.progress import RichProgress

    return RichProgress()


def emit_json(obj) -> None:
    """``obj`` (its ``to_dict()`` when it has one) as indented JSON on stdout."""
    from taxonomy.normalize import printable

    data = obj.to_dict() if hasattr(obj, "to_dict") else obj
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    # JSON escapes C0 controls itself; C1, bidi and zero-width characters become \uNNNN escapes (still valid JSON)
    plain = text.replace("\n", "").isprintable() or printable(text) == text  # (the first test is C-fast)
    sys.stdout.write(text if plain else _json_escape_invisible(text))
    sys.stdout.write("\n")


def _json_escape_invisible(text: str) -> str:
    return "".join(
        ch if ch.isprintable() or ch in "\n\t " else "".join(f"\\u{u:04x}" for u in _utf16(ch)) for ch in text
    )


def _utf16(ch: str) -> list[int]:
    b = ch.encode("utf-16-be")
    return [int.from_bytes(b[i : i + 2], "big") for i in range(0, len(b), 2)]


def esc(text: str) -> str:
    """Text from data (names, values, excerpts, messages) for a rich console: markup escaped, so that
    ``[weights-consistent]`` or ``[red]`` print as written, and non-printable characters shown as escapes."""
    from rich.markup import escape

    from taxonomy.normalize import printable

    return escape(printable(text or ""))


# ------------------------------------------------------------------------------------------------ errors, exit codes
#: Exit codes reaching the shell: 0 ok, 1 failure, 2 bad input or usage, 3 conflict (taxonomy.errors sets them).
EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_CONFLICT = 0, 1, 2, 3


def esc_url(url: str | None) -> str:
    """A URL for the terminal: its password (``user:***@host``) and any secret in use masked, markup escaped."""
    from taxonomy.secrets import scrub

    return esc(scrub(url or ""))


def print_error(message: str) -> None:
    """``Error: message`` on stderr: secrets redacted, markup and non-printable characters escaped."""
    from taxonomy.secrets import redact

    err.print(f"[bold red]Error:[/bold red] {esc(redact(message))}", highlight=False)


def run_cli(app, argv: list[str] | None = None, *, prog_name: str = "taxo") -> int:
    """Run the typer ``app`` and return the exit code for the shell: the command's own (``typer.Exit(n)``), the
    code of a workbench error, 2 for a usage error (one line naming the problem and the valid choices), 1 for
    anything else. Every error is one line (set ``TAXO_DEBUG=1`` to see the traceback of an unexpected one).
    Works the same for every command and sub-app registered on ``app``."""
    import os

    from taxonomy.errors import TaxoError

    try:
        rc = app(args=argv, standalone_mode=False, prog_name=prog_name)
    except TaxoError as exc:
        print_error(str(exc))
        return exc.exit_code
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        print_error("aborted")
        return EXIT_FAILURE
    except KeyboardInterrupt:
        err.print("Interrupted; nothing was written.")
        return 130
    except typer.TyperException as exc:  # click's usage errors (typer's bundled click)
        return _show_click_error(exc)
    except BrokenPipeError:  # `taxo export 1 | head`: the reader went away
        _silence_stdout()
        return EXIT_OK
    except OSError as exc:
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        print_error(f"{where}{exc.strerror or exc}")
        return EXIT_FAILURE
    except Exception as exc:  # noqa: BLE001 - a bug: one line, the traceback on request
        database = _database_error(exc)
        if database is not None:
            print_error(database)
            return EXIT_FAILURE
        if _click_exception(exc):
            return _show_click_error(exc)
        if os.environ.get("TAXO_DEBUG"):
            raise
        print_error(
            f"internal error ({type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}); "
            "please report it. TAXO_DEBUG=1 shows the traceback"
        )
        return EXIT_FAILURE
    return rc if isinstance(rc, int) else EXIT_OK


def _database_error(exc: BaseException) -> str | None:
    """The one-line message for a SQLAlchemy error, else None. SQLAlchemy is looked at only when it was loaded
    (a command that raised one did load it): `taxo --help` does not import it."""
    if "sqlalchemy" not in sys.modules:
        return None
    from sqlalchemy.exc import OperationalError, SQLAlchemyError

    if isinstance(exc, OperationalError):
        return f"cannot use the database: {str(exc.orig).strip().splitlines()[0] if exc.orig else exc}"
    if isinstance(exc, SQLAlchemyError):
        return f"database error: {str(exc).strip().splitlines()[0]}"
    return None


def _click_exception(exc: BaseException) -> bool:
    try:
        import click
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, click.exceptions.ClickException)


def _silence_stdout() -> None:
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # pragma: no cover
        pass


def _command_path(ctx) -> str:
    """The command as the user typed it ("taxo edit 1 merge"): click writes a group's arguments as placeholders
    ("{version}"), replaced here by the values given (or the argument's name in capitals)."""
    import re

    if ctx is None:
        return "taxo"
    given: dict = {}
    c = ctx
    while c is not None:
        given = {**(c.params or {}), **given}
        c = c.parent

    def value(m):
        v = given.get(m.group(1))
        return str(v) if v is not None else m.group(1).upper()

    return re.sub(r"\{(\w+)\}", value, ctx.command_path)


def _show_click_error(exc) -> int:
    """A click usage error as one line: the command, the problem, the valid choices; exit code 2."""
    code = int(getattr(exc, "exit_code", EXIT_USAGE) or EXIT_USAGE)
    ctx = getattr(exc, "ctx", None)
    if type(exc).__name__ == "NoArgsIsHelpError":  # `taxo` or `taxo edit 1` alone: the help text
        exc.show()
        return code
    msg = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    msg = msg.replace("Input should be a valid integer, unable to parse string as an integer", "not an integer")
    msg = msg.replace("Input should be a valid number, unable to parse string as a number", "not a number")
    path = _command_path(ctx)
    extra = ""
    if ctx is not None and msg.startswith("No such command"):
        try:
            names = [n for n in ctx.command.list_commands(ctx) if not getattr(ctx.command.get_command(ctx, n), "hidden", False)]
        except Exception:  # noqa: BLE001 - choices are a courtesy
            names = []
        if names:
            extra = f" Valid commands: {', '.join(names)}."
    elif ctx is not None and msg.startswith("No such option") and "Possible options" not in msg:
        opts = sorted({o for p in ctx.command.params for o in getattr(p, "opts", []) if o.startswith("--")} | {"--help"})
        extra = f" Valid options: {', '.join(opts)}."
    msg = msg.rstrip()
    if extra and not msg.endswith("."):
        msg += "."
    print_error(f"{path}: {msg}{extra} (see `{path} --help`)")
    return code
