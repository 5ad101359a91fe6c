"""Normalisation of value strings (the key under which a value is stored), the character policy for values and
names, and the escaping of non-printable characters on output.

Character policy (values, node names, descriptions):

* refused, with an error naming the file, line and field: NUL and the other C0 and C1 control characters (ESC,
  BEL, DEL, U+0080-U+009F, ...; a description may hold line breaks and tabs), and the bidirectional controls
  (U+202A-U+202E overrides and embeddings, U+2066-U+2069 isolates, U+200E/U+200F/U+061C marks), which can make
  text display as something else;
* removed: the zero-width characters U+200B, U+200C, U+200D, U+2060 and U+FEFF, so that "hon\\u200besty" and
  "honesty" are one value, not look-alike duplicates;
* limits, the same on SQLite and PostgreSQL: a value at most :data:`MAX_VALUE_LENGTH` characters after
  normalisation, a node name at most :data:`MAX_NAME_LENGTH`.
"""

from __future__ import annotations

import re
import unicodedata

_WS = re.compile(r"\s+")

#: Longest value string accepted, in characters after normalisation (the column holds 500).
MAX_VALUE_LENGTH = 500
#: Longest surface form (the value as written in the file, trimmed) and node name accepted.
MAX_SURFACE_LENGTH = 1000
MAX_NAME_LENGTH = 500
#: Longest conversation id, author, branch name, response type.
MAX_SHORT_TEXT = 200

ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"
_ZERO_WIDTH_RE = re.compile(f"[{ZERO_WIDTH}]")
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")


def strip_invisible(text: str) -> str:
    """``text`` without zero-width characters."""
    return _ZERO_WIDTH_RE.sub("", text)


def text_problem(text: str, *, multiline: bool = False) -> str | None:
    """Why ``text`` is refused as a value, name or (``multiline``) description; None when it is acceptable."""
    if text.isascii() and text.isprintable():  # the common case, without a loop over the characters
        return None
    for i, ch in enumerate(text):
        o = ord(ch)
        if o < 0x20 or 0x7F <= o <= 0x9F:
            if multiline and ch in "\n\t\r":
                continue
            if ch in "\t\n\r" and not multiline:
                what = {"\t": "a tab", "\n": "a line break", "\r": "a carriage return"}[ch]
            else:
                what = "a NUL character" if o == 0 else f"the control character U+{o:04X}"
            return f"contains {what} (at character {i + 1}); control characters are not allowed"
        if ch in BIDI_CONTROLS:
            return (
                f"contains the bidirectional control U+{o:04X} ({unicodedata.name(ch, 'unnamed')}) at character "
                f"{i + 1}; it can make text display as something else and is not allowed"
            )
    return None


def clean_name(text: str, *, what: str = "name", multiline: bool = False, limit: int | None = MAX_NAME_LENGTH) -> str:
    """A node name (or with ``multiline``, a description) checked against the character policy: zero-width
    characters removed, surrounding whitespace trimmed. Raises ValueError with the problem (the caller names
    where)."""
    text = strip_invisible(text)
    problem = text_problem(text, multiline=multiline)
    if problem:
        raise ValueError(f"{what} {problem}")
    text = text.strip()
    if limit is not None and len(text) > limit:
        raise ValueError(f"{what} is {len(text)} characters long; the limit is {limit}")
    return text


def normalize_value(text: str, *, keep_case: bool = False) -> str:
    """Return the canonical form of a value string.

    Unicode NFKC, zero-width characters removed, surrounding whitespace trimmed, inner whitespace runs collapsed
    to one space and, unless ``keep_case`` is true, case-folded. The result is "" for a blank input; callers
    treat that as an error. Control characters are not removed here: :func:`text_problem` refuses them first.

    >>> normalize_value("  Honesty\\u00a0 and\\tTRUTH ")
    'honesty and truth'
    """
    text = strip_invisible(unicodedata.normalize("NFKC", text))
    text = _WS.sub(" ", text).strip()
    if not keep_case:
        text = text.casefold()
    return text


def printable(text: str, *, keep_newlines: bool = True) -> str:
    """``text`` for a terminal: control, format (bidi, zero-width), separator and private-use characters shown
    as ``\\xNN`` / ``\\uNNNN`` escapes, so that data can neither move the cursor, recolour or clear the screen
    nor look like other text. Line breaks and tabs are kept unless ``keep_newlines`` is false."""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch.isprintable() or (keep_newlines and ch in "\n\t"):
            out.append(ch)
            continue
        o = ord(ch)
        if ch == " ":  # pragma: no cover - printable
            out.append(ch)
        elif unicodedata.category(ch) == "Zs":  # non-breaking and other spaces: harmless
            out.append(ch)
        elif o <= 0xFF:
            out.append(f"\\x{o:02x}")
        elif o <= 0xFFFF:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    return "".join(out)
