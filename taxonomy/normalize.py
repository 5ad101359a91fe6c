"""Normalisation of value strings: the key under which a value is stored."""

from __future__ import annotations

import re
import unicodedata

_WS = re.compile(r"\s+")

#: Longest value string accepted, in characters after normalisation.
MAX_VALUE_LENGTH = 500


def normalize_value(text: str, *, keep_case: bool = False) -> str:
    """Return the canonical form of a value string.

    Unicode NFKC, surrounding whitespace trimmed, inner whitespace runs collapsed to one space and, unless
    ``keep_case`` is true, case-folded. The result is "" for a blank input; callers treat that as an error.

    >>> normalize_value("  Honesty\\u00a0 and\\tTRUTH ")
    'honesty and truth'
    """
    text = unicodedata.normalize("NFKC", text)
    text = _WS.sub(" ", text).strip()
    if not keep_case:
        text = text.casefold()
    return text
