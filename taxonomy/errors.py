"""Errors the workbench raises for users.

Every error a user can cause derives from :class:`TaxoError`; the CLI prints its message and exits non-zero
(exit code 2 for bad input, 3 for a conflict, 1 for anything else).
"""

from __future__ import annotations


class TaxoError(Exception):
    """Base class for errors that are reported to the user as a message, not a traceback.

    The message is passed through :func:`taxonomy.secrets.redact` when the error is made, so that no API key,
    token or URL password reaches the screen, a log or a stored error, whatever a server sent back."""

    exit_code = 1

    def __init__(self, *args: object):
        from taxonomy.secrets import redact

        super().__init__(*(redact(a) if isinstance(a, str) else a for a in args))


class InputError(TaxoError):
    """Bad user input in a file: names the file, the line/row (1-based, as an editor shows it) and the problem."""

    exit_code = 2

    def __init__(self, path: str, problem: str, *, line: int | None = None, field: str | None = None):
        self.path = str(path)
        self.line = line
        self.field = field
        self.problem = problem
        where = self.path
        if line is not None:
            where += f", line {line}"
        if field is not None:
            where += f", field {field!r}"
        super().__init__(f"{where}: {problem}")


class UsageError(TaxoError):
    """An option or argument that cannot work (unknown version, impossible level counts, ...)."""

    exit_code = 2


class NotFoundError(UsageError):
    """A version, node or value that does not exist."""


class DatabaseNotInitialisedError(TaxoError):
    """The database has no schema, or an old one: run `taxo init`."""
