"""The rules every door applies to raw input, in one place: whole numbers and ids, and text.

Ids: a database id is a whole number from 1 to MAX_ID (2^63 - 1, what a BIGINT column and
SQLite's INTEGER hold; the `<int:...>` URL converter uses the same bound). `as_id` parses one
that must be there (ValidationError with the field's reason otherwise: a 400 at the HTML and
JSON doors, an "invalid" ack on a socket), `optional_id` one that may be left out, `id_or_none`
a filter or cursor where garbage simply means "none"; `as_int` any other bounded whole number
(a setting, a count).

Text: the rule itself is text_problem below (no NUL, no lone surrogate, no other
C0 control character but tab, newline and carriage return). `strip_unusable` removes those
characters; the HTML door applies it to every submitted form field and query parameter
(app.setup.KringRequest), where a browser user cannot see them anyway. `check_payload` walks a
decoded JSON value (a JSON body, a socket event) and refuses what no field can hold: text
breaking the rule, numbers beyond a 64-bit column or not finite.
"""
from __future__ import annotations

import math
import re

from app.errors import ValidationError

MAX_ID = 2**63 - 1
MIN_INT = -(2**63)

UNUSABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")


def _whole(value) -> int | None:
    """The whole number in `value` (an int, or a string of ASCII digits with an optional sign
    and surrounding spaces), else None. Never a bool, a float or '1e5'."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        digits = text[1:] if text[:1] in "+-" else text
        if 0 < len(digits) <= 20 and digits.isascii() and digits.isdigit():
            return int(text)
    return None


def as_int(value, field: str, *, low: int = MIN_INT, high: int = MAX_ID, message: str | None = None) -> int:
    """`value` as a whole number from `low` to `high`. Raises ValidationError({field: reason})."""
    number = _whole(value)
    if number is None or not low <= number <= high:
        raise ValidationError({field: message or f"Give a whole number from {low:,} to {high:,}."})
    return number


def as_id(value, field: str = "id", *, message: str | None = None) -> int:
    """`value` as a database id (1 to MAX_ID). Raises ValidationError({field: reason})."""
    return as_int(value, field, low=1, high=MAX_ID, message=message or "That is not a valid id.")


def optional_id(value, field: str = "id", *, message: str | None = None) -> int | None:
    """None for a missing or empty value, else as_id(value). Raises ValidationError."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return as_id(value, field, message=message)


def id_or_none(value) -> int | None:
    """A database id, or None for anything else (filters and cursors, where junk means none)."""
    number = _whole(value)
    return number if number is not None and 1 <= number <= MAX_ID else None


def text_problem(text: str) -> str | None:
    """The one rule for every text field: no NUL character, no lone surrogate (neither can be
    stored or encoded) and no other C0 control character except tab, newline and carriage
    return (invisible, and they break what shows the text). None when the text is fine."""
    found = UNUSABLE.search(text)
    if found:
        return f"The text contains a character that cannot be stored (U+{ord(found.group()):04X})."
    return None


def contains_pattern(text: str) -> str:
    """A SQL LIKE pattern matching `text` anywhere, with its own %, _ and backslash taken
    literally (use with `escape="\\"`). Raises nothing."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def strip_unusable(text: str) -> str:
    """`text` without the characters the text rule refuses (see the module docstring)."""
    return UNUSABLE.sub("", text) if UNUSABLE.search(text) else text


def check_payload(value, field: str = "body") -> None:
    """Refuse a decoded JSON value holding text that breaks the text rule (keys too) or a number
    that no column holds (beyond 64 bits, NaN, infinite). The value's nesting must already be
    bounded (json_object and the socket guard bound the size first). Raises
    ValidationError({key: reason}) naming the first offending key (`field` at the top)."""
    stack = [(field, value)]
    while stack:
        name, item = stack.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem:
                raise ValidationError({name: problem})
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if not MIN_INT <= item <= MAX_ID:
                raise ValidationError({name: "The number is too large."})
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise ValidationError({name: "The number is too large."})
        elif isinstance(item, dict):
            for key, inner in item.items():
                key_name = str(key)[:40]
                if isinstance(key, str) and text_problem(key):
                    raise ValidationError({key_name: "A name contains a character that cannot be stored."})
                stack.append((key_name if name == field else name, inner))
        elif isinstance(item, list | tuple):
            stack.extend((name, inner) for inner in item)
