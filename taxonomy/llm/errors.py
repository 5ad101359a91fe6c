"""Errors of the language-model layer. All are :class:`~taxonomy.errors.TaxoError`: the CLI prints one line."""

from __future__ import annotations

from taxonomy.errors import TaxoError, UsageError
from taxonomy.secrets import redact


class LLMConfigError(UsageError):
    """No key, no server, or a server that refuses us: raised before any work starts."""


class LLMError(TaxoError):
    """A model call failed for good (after the retries), or the server refused the request."""


class BudgetExceededError(TaxoError):
    """``--max-calls`` / ``--max-cost`` would be exceeded by the next call: stopped before making it."""


class RetryableError(Exception):
    """One attempt failed in a way that another attempt may fix (429, 5xx, timeout, unusable body)."""

    def __init__(self, kind: str, message: str, retry_after: float | None = None):
        super().__init__(redact(message))
        self.kind = kind  #: "rate_limited" | "server_error" | "timeout" | "connection" | "malformed_response"
        self.retry_after = retry_after


class FatalError(Exception):
    """One attempt failed in a way that retrying cannot fix (400, 401, 403, 404, ...)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(redact(message))
        self.status = status


class Cancelled(Exception):
    """A queued call was dropped because another call of the same batch failed."""
