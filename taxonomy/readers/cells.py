"""Checking one cell of an input file: numbers, conversation ids, optional text, explicitness; and the UTF-8
decoding error that names the line. Each check takes ``fail(line, key, problem) -> InputError``."""

from __future__ import annotations

import math
from typing import Any, Callable

from taxonomy.errors import InputError
from taxonomy.normalize import MAX_SHORT_TEXT, text_problem

Fail = Callable[[int, str, str], InputError]

ROLES = {"ai": "ai", "assistant": "ai", "model": "ai", "human": "human", "user": "human"}
TRUE = {"true", "t", "yes", "y", "1", "explicit"}
FALSE = {"false", "f", "no", "n", "0", "implicit"}
BOM = b"\xef\xbb\xbf"

#: optional text fields stored in short columns: the full character policy and a length limit apply
SHORT_TEXT_FIELDS = frozenset({"role", "response_type"})


class Missing:
    """Marker for a JSONL object without the key (as opposed to an explicit null)."""

    __slots__ = ()

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return "<missing>"


MISSING: Any = Missing()


def json_type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, (int, float)):
        return "a number"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list):
        return "an array"
    if isinstance(v, dict):
        return "an object"
    return type(v).__name__


def first_line(e: BaseException) -> str:
    s = str(e).strip()
    return s.splitlines()[0] if s else type(e).__name__


def raise_decode_error(path: str, data: bytes, *, lone_cr_breaks: bool = True) -> None:
    """Raise InputError naming the line of the first bytes of ``data`` that are not UTF-8 (a leading BOM is
    dropped); return if there are none.

    ``lone_cr_breaks``: whether a lone carriage return ends a line (CSV, read with universal newlines) or not
    (JSONL, split on line feeds only), so that the line reported matches the reader's own numbering.
    """
    bom = len(BOM) if data.startswith(BOM) else 0
    if bom:
        data = data[bom:]
    try:
        data.decode("utf-8")
        return
    except UnicodeDecodeError as e:
        prefix = data[: e.start]
        line = prefix.count(b"\n") + 1
        line_start = prefix.rfind(b"\n") + 1
        if lone_cr_breaks:  # universal newlines: \n, \r\n and a lone \r
            line += prefix.count(b"\r") - prefix.count(b"\r\n")
            line_start = max(line_start, prefix.rfind(b"\r") + 1)
        column = e.start - line_start + 1
        bad = data[e.start: min(e.end, e.start + 4)]
        problem = (
            f"not valid UTF-8: byte(s) {bad.hex(' ')} at byte {column} of the line "
            f"(file offset {e.start + bom}); "
            "save the file as UTF-8"
        )
        if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
            problem += " (it looks like UTF-16)"
        raise InputError(path, problem, line=line) from None


def number(raw: Any, line: int, key: str, fail: Fail) -> float | int:
    """A JSON/Parquet number, or a string holding one (CSV); booleans, blanks and other types are errors."""
    if raw is MISSING:
        raise fail(line, key, f"missing {key} field")
    if raw is None:
        raise fail(line, key, f"{key} is null")
    if isinstance(raw, bool):
        raise fail(line, key, f"{key} must be a number, got a boolean ({raw!r})")
    if isinstance(raw, (int, float)):
        return raw
    if isinstance(raw, str):
        s = raw.strip()
        if not s:
            raise fail(line, key, f"{key} is empty")
        if "_" not in s:
            try:
                return int(s)
            except ValueError:
                pass
            try:
                return float(s)
            except ValueError:
                pass
        raise fail(line, key, f"{key} is not a number: {raw!r}")
    try:  # e.g. decimal.Decimal from a Parquet decimal column
        return float(raw)
    except (TypeError, ValueError):
        raise fail(line, key, f"{key} must be a number, got {type(raw).__name__} ({raw!r})") from None


def weight(raw: Any, line: int, fail: Fail) -> float:
    w = float(number(raw, line, "weight", fail))
    if math.isnan(w):
        raise fail(line, "weight", "weight is NaN")
    if math.isinf(w):
        raise fail(line, "weight", "weight is infinite")
    if w < 0:
        raise fail(line, "weight", f"weight is negative ({raw!r})")
    return w + 0.0  # -0.0 -> 0.0


def count(raw: Any, line: int, fail: Fail) -> int:
    c = number(raw, line, "count", fail)
    if isinstance(c, float):
        if not math.isfinite(c) or c != int(c):
            raise fail(line, "count", f"count must be a whole number, got {raw!r}")
        c = int(c)
    if c < 0:
        raise fail(line, "count", f"count is negative ({raw!r})")
    return c


def conversation(raw: Any, line: int, fail: Fail) -> str:
    if raw is MISSING or raw is None:
        raise fail(line, "conversation", "missing conversation id")
    if isinstance(raw, bool) or isinstance(raw, (list, dict)):
        raise fail(line, "conversation", f"conversation id must be a string or integer, got {json_type(raw)}")
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)  # an integer column that went through a float (pandas with nulls)
    s = str(raw).strip()
    if not s:
        raise fail(line, "conversation", "missing conversation id (empty)")
    problem = text_problem(s)
    if problem:
        raise fail(line, "conversation", f"conversation id {problem}")
    if len(s) > MAX_SHORT_TEXT:
        raise fail(line, "conversation", f"conversation id is {len(s)} characters long; the limit is {MAX_SHORT_TEXT}")
    return s


def explicit(raw: Any, line: int, fail: Fail) -> bool | None:
    """The explicitness field: a boolean, 1/0, or true/false, yes/no, explicit/implicit (any case); blank = unknown."""
    if raw is MISSING or raw is None:
        return None
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, (int, float)) and raw in (0, 1):
        return bool(raw)
    if isinstance(raw, str):
        s = raw.strip().casefold()
        if not s:
            return None
        if s in TRUE:
            return True
        if s in FALSE:
            return False
    raise fail(
        line, "explicit",
        f"explicitness must be true/false, yes/no, 1/0 or explicit/implicit, got {raw!r}",
    )


def text(raw: Any, line: int, key: str, fail: Fail) -> str | None:
    """An optional text field: missing, null or blank -> None."""
    if raw is MISSING or raw is None:
        return None
    if isinstance(raw, str):
        if "\x00" in raw:  # PostgreSQL cannot store NUL in text; refused on every database alike
            raise fail(line, key, f"{key} contains a NUL character (at character {raw.index(chr(0)) + 1})")
        s = raw.strip() or None
        if s is not None and key in SHORT_TEXT_FIELDS:
            problem = text_problem(s)
            if problem:
                raise fail(line, key, f"{key} {problem}")
            if len(s) > MAX_SHORT_TEXT:
                raise fail(line, key, f"{key} is {len(s)} characters long; the limit is {MAX_SHORT_TEXT}")
        return s
    if isinstance(raw, (list, dict)):
        raise fail(line, key, f"{key} must be a string, got {json_type(raw)}")
    if isinstance(raw, bool):
        raise fail(line, key, f"{key} must be a string, got a boolean")
    return str(raw)


def role(raw: Any, line: int, fail: Fail) -> str | None:
    v = text(raw, line, "role", fail)
    if v is None:
        return None
    r = ROLES.get(v.casefold())
    if r is None:
        raise fail(line, "role", f"unknown role {v!r}; expected ai/assistant/model or human/user (any case)")
    return r
