"""Keeping secrets out of every message: one redaction helper for errors, logs and anything stored.

:func:`redact` removes from a text

* every secret value in use: the values registered with :func:`register` (API keys and tokens as the clients
  read them) and the values of the environment variables that hold secrets (``ANTHROPIC_API_KEY``,
  ``OPENAI_API_KEY``, ``TAXO_LABEL_STUDIO_TOKEN`` and any variable whose name ends in ``_KEY``, ``_TOKEN``,
  ``_SECRET`` or ``_PASSWORD``), wherever they appear, whatever a server sent back;
* the password of a URL (``scheme://user:password@host`` becomes ``scheme://user:***@host``);
* the value of credential headers a server may echo (``Authorization: Bearer …``, ``x-api-key: …``,
  ``Token …``), even when the value is not a known secret.

Redaction is idempotent and never raises.
"""

from __future__ import annotations

import os
import re
import threading

MASK = "[REDACTED]"

#: environment variables always treated as secrets (besides the name patterns below)
SECRET_ENV = ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "TAXO_LABEL_STUDIO_TOKEN")
_SECRET_ENV_NAME = re.compile(r"(?:_KEY|_TOKEN|_SECRET|_PASSWORD|_PASSWD|_API_KEY)$", re.IGNORECASE)
_MIN_SECRET = 6  # shorter values ("x", "1") would mangle ordinary text; no real key is that short

_lock = threading.Lock()
_registered: set[str] = set()

_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s/:@'\"<>]*:)(?P<pw>[^\s/@'\"<>]+)@")
_HEADER_VALUE = re.compile(
    r"(?P<head>\b(?:authorization|proxy-authorization|x-api-key|api-key|x-auth-token|cookie|set-cookie)"
    r"[\"']?\s*[:=]\s*[\"']?)(?:(?P<scheme>bearer|token|basic)\s+)?(?P<value>[^\s\"',;}&]+)",
    re.IGNORECASE,
)
#: "Bearer <token>" outside a header: a long run of token characters holding a digit (so "bearer responsibility"
#: in a sentence is left alone)
_SCHEME_VALUE = re.compile(
    r"(?P<head>\bbearer\s+)(?P<value>(?=[A-Za-z0-9._~+/=\-]*\d)[A-Za-z0-9._~+/=\-]{16,})", re.IGNORECASE
)
_KEY_SHAPES = re.compile(r"\b(?:sk-(?:ant-)?[A-Za-z0-9_\-]{16,}|gh[pousr]_[A-Za-z0-9]{20,})")


def register(secret: str | None) -> None:
    """Remember a secret value in use (an API key or token) so that :func:`redact` removes it everywhere."""
    if secret and len(secret.strip()) >= _MIN_SECRET:
        with _lock:
            _registered.add(secret.strip())


def known_secrets() -> list[str]:
    """The secret values :func:`redact` removes, longest first."""
    found = set(_registered)
    for name, value in os.environ.items():
        if name in SECRET_ENV or _SECRET_ENV_NAME.search(name):
            value = value.strip()
            if len(value) >= _MIN_SECRET:
                found.add(value)
    return sorted(found, key=len, reverse=True)


def redact(text: object, extra: tuple[str, ...] | list[str] = ()) -> str:
    """``text`` (anything; ``str()`` is taken) with every secret value, URL password and credential header value
    replaced by ``[REDACTED]`` (URL passwords by ``***``). ``extra``: more secret values to remove."""
    try:
        s = text if isinstance(text, str) else str(text)
    except Exception:  # noqa: BLE001 - a message must never fail to be made
        return "(unprintable message)"
    secrets = known_secrets()
    secrets += sorted((e for e in extra if e and len(e) >= _MIN_SECRET), key=len, reverse=True)
    for value in secrets:
        if value in s:
            s = s.replace(value, MASK)
        s = _mask_prefixes(s, value)
    s = _URL_PASSWORD.sub(lambda m: m["head"] + "***@", s)
    s = _HEADER_VALUE.sub(_mask_header, s)
    s = _SCHEME_VALUE.sub(lambda m: m["head"] + MASK, s)
    s = _KEY_SHAPES.sub(MASK, s)
    return s


def scrub(text: str) -> str:
    """The light form of :func:`redact` for ordinary output (names, URLs, messages): the secret values in use and
    URL passwords, without the header heuristics (so data such as "cookie: chocolate" is left alone)."""
    if not text:
        return text or ""
    for value in known_secrets():
        if value in text:
            text = text.replace(value, MASK)
    return _URL_PASSWORD.sub(lambda m: m["head"] + "***@", text) if "@" in text else text


def _mask_prefixes(s: str, secret: str, keep: int = 8) -> str:
    """Mask a cut-off beginning of ``secret`` (its first ``keep`` characters or more), as left by a message that
    was shortened before it was redacted."""
    if len(secret) < 2 * keep or secret[:keep] not in s:
        return s
    out, i = [], 0
    while True:
        j = s.find(secret[:keep], i)
        if j < 0:
            out.append(s[i:])
            return "".join(out)
        n = keep
        while j + n < len(s) and n < len(secret) and s[j + n] == secret[n]:
            n += 1
        out.append(s[i:j] + MASK)
        i = j + n


def _mask_header(m: re.Match) -> str:
    if m["value"] == MASK or m["value"].startswith(MASK):
        return m.group(0)
    scheme = f"{m['scheme']} " if m["scheme"] else ""
    return f"{m['head']}{scheme}{MASK}"


def redact_url(url: str) -> str:
    """A URL with its password (if any) hidden, for messages and stored records."""
    return _URL_PASSWORD.sub(lambda m: m["head"] + "***@", url or "")
