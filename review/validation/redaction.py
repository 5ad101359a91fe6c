"""Redaction of personal data from excerpts before validators see them (``taxo validate sample --redact``):
e-mail addresses, phone numbers, URLs, IP addresses and long runs of digits become placeholders."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class _Rule:
    kind: str
    placeholder: str
    pattern: re.Pattern
    check: Any = None  #: optional predicate on the matched text


def _ipv6_ok(text: str) -> bool:
    addr = text.split("%", 1)[0]
    # "a::b" (C++ scopes) and "cafe::beef" are valid addresses but rarely meant as one: ask for a decimal digit
    if not re.search(r"[0-9]", addr):
        return False
    try:
        ipaddress.IPv6Address(addr)
    except ValueError:
        return False
    return True


def _ipv4_ok(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


_DATE_LIKE = re.compile(
    r"^(?:\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4}|\d{4}\s?[-–]\s?\d{4})$"
)


def _phone_ok(text: str) -> bool:
    digits = sum(ch.isdigit() for ch in text)
    if not (7 <= digits <= 15):
        return False
    return not _DATE_LIKE.match(text.strip())


_URL_TAIL = ".,;:!?'\")]}>"
#: top-level domains recognised in a bare ``host.tld/path`` (without a scheme or www.): the common ones, and none
#: that is also a common file extension (``Node.js/React``, ``setup.py/…`` stay)
_BARE_TLDS = (
    "com|net|org|edu|gov|mil|int|io|co|ai|app|dev|info|biz|me|tv|us|uk|de|fr|es|it|nl|be|ch|at|se|no|dk|fi|ie|"
    "pt|pl|ru|cn|jp|kr|in|au|nz|ca|br|mx|ar|za|eu"
)

#: The redaction rules, applied in this order (URLs first: they can contain e-mail addresses, IPs and digits).
REDACTION_RULES: tuple[_Rule, ...] = (
    _Rule(
        "url",
        "[URL]",
        re.compile(
            r"(?i)(?<![\w@.])(?:(?:https?|ftps?|sftp|file)://|www\.)[^\s<>\"'`]+"
            r"|(?<![\w@./-])(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:" + _BARE_TLDS + r")/[^\s<>\"'`]*"
        ),
    ),
    _Rule(
        "email",
        "[EMAIL]",
        re.compile(r"(?<![\w.+-])\w[\w.!#$%&'*+/=?^`{|}~-]*@(?:\w(?:[\w-]{0,61}\w)?\.)+[^\W\d_]{2,}(?![\w-])"),
    ),
    _Rule(
        "ip",
        "[IP]",
        re.compile(
            r"(?<![\w:.])(?:(?:[0-9A-Fa-f]{1,4}:){1,7}:?|::)(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6}"
            r"(?::(?:\d{1,3}\.){3}\d{1,3})?|(?:\d{1,3}\.){3}\d{1,3})?(?:%[0-9A-Za-z_]+(?:[.\-][0-9A-Za-z_]+)*)?(?![\w:]|\.\d)"
        ),
        _ipv6_ok,
    ),
    _Rule(
        "ip",
        "[IP]",
        re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)"),
        _ipv4_ok,
    ),
    _Rule(
        "phone",
        "[PHONE]",
        re.compile(
            # international: +CC then 2-6 groups of digits separated by space, dot, dash or parentheses
            r"(?<![\w+])\+\d{1,3}(?:[ .\-]?(?:\(\d{1,4}\)|\d{1,4})){2,6}(?![\w])"
            # (area code) 555-2671
            r"|(?<!\w)\(\d{2,5}\)[ .\-]?\d{2,4}(?:[ .\-]\d{2,4}){0,2}(?!\w)"
            # 415-555-2671, 415.555.2671, 415 555 2671
            r"|(?<![\w.\-])(?:1[ .\-])?\d{3}([ .\-])\d{3}\1\d{4}(?![\w]|[.\-]\d)"
            # national numbers with a trunk 0: 020 7946 0958, 06-12345678, 0171 1234567
            r"|(?<![\w.\-])0\d{1,4}[ .\-/]\d{3,8}(?:[ .\-]\d{2,4}){0,2}(?![\w]|[.\-]\d)"
        ),
        _phone_ok,
    ),
    _Rule(
        "digits",
        "[NUMBER]",
        # card-like groups (4111 1111 1111 1111) and any run of 6 or more digits (not the decimals of a number)
        re.compile(r"(?<!\d)\d{4}(?:[ \-]\d{4}){2,}(?:[ \-]\d{1,4})?(?!\d)|(?<!\d[.,])(?<!\d)\d{6,}(?!\d)"),
    ),
)
REDACTION_KINDS = ("url", "email", "ip", "phone", "digits")


def _trim_url(s: str) -> tuple[str, str]:
    """Split trailing sentence punctuation off a URL; a closing bracket that closes one opened inside the URL
    (``wiki/Foo_(bar)``) stays."""
    end = len(s)
    while end > 0 and s[end - 1] in _URL_TAIL:
        ch = s[end - 1]
        opener = {")": "(", "]": "[", "}": "{"}.get(ch)
        if opener and s[:end].count(opener) >= s[:end].count(ch):
            break
        end -= 1
    return s[:end], s[end:]


@dataclass
class Redaction:
    text: str
    n: int
    by_kind: dict[str, int]


def redact(text: str | None) -> Redaction:
    """Remove e-mail addresses, phone numbers, URLs, IP addresses (v4 and v6) and runs of 6 or more digits
    from ``text``; each is replaced by a placeholder such as ``[EMAIL]``. Returns the text and the counts."""
    by_kind = {k: 0 for k in REDACTION_KINDS}
    if not text:
        return Redaction(text, 0, by_kind)  # type: ignore[arg-type]
    for rule in REDACTION_RULES:

        def sub(m: re.Match, rule: _Rule = rule) -> str:
            s, tail = m.group(0), ""
            if rule.kind == "url":
                s, tail = _trim_url(s)
                if len(s) <= 4 or s.lower().endswith("://"):
                    return m.group(0)
            if rule.check is not None and not rule.check(s):
                return m.group(0)
            by_kind[rule.kind] += 1
            return rule.placeholder + tail

        text = rule.pattern.sub(sub, text)
    return Redaction(text, sum(by_kind.values()), by_kind)
