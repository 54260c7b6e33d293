"""Small validators shared by the definition and organisation readers.

Each takes the problem list and the key path of the value, reports what is wrong in
words a clerk can act on, and returns a usable value anyway, so that one run finds
every problem in a file rather than the first.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from cycle.encoding import not_utf8
from cycle.errors import InvalidDefinition

SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]*")
MAX_KEY = 64
MAX_NAME = 200
MAX_DESCRIPTION = 4000
MAX_DAYS = 366
# Right-to-left overrides and isolates can make a name in a mail read differently from
# what it is ("Trojan Source"); Swedish names never need them.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


class Problems:
    """Problems found so far, each as `path: message (line N)`, and warnings, placed the same way."""

    def __init__(self, lines: Mapping[str, int] | None = None, found: Iterable[str] = ()):
        self.items: list[str] = list(found)
        self.warnings: list[str] = []  # the file is valid, but probably not what its writer meant
        self._lines = lines or {}

    def add(self, path: str, message: str, at: str | None = None) -> None:
        self.items.append(self._placed(path, message, at))

    def warn(self, path: str, message: str) -> None:
        self.warnings.append(self._placed(path, message))

    def _placed(self, path: str, message: str, at: str | None = None) -> str:
        text = f"{path}: {message}" if path else message
        line = self._line_of(path if at is None else at)
        return f"{text} (line {line})" if line else text

    def raise_if_any(self, source: str) -> None:
        if self.items:
            raise InvalidDefinition(source, list(dict.fromkeys(self.items)))

    def _line_of(self, path: str) -> int | None:
        while path:
            if path in self._lines:
                return self._lines[path]
            path = path[: max(path.rfind("."), path.rfind("["), 0)]
        return None


def child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def item(path: str, index: int) -> str:
    return f"{path}[{index}]"


def kind(value: Any) -> str:
    """How a value of the wrong type is described back to the writer of the file."""
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return f"{str(value).lower()} (true/false)"
    if isinstance(value, dt.datetime):
        return "a date and time"
    names = {dict: "a mapping", list: "a list", str: "text", int: "a number", float: "a number", dt.date: "a date"}
    return names.get(type(value), f"a {type(value).__name__}")


def mapping(problems: Problems, path: str, value: Any) -> dict[Any, Any] | None:
    if isinstance(value, dict):
        return value
    problems.add(path, f"must be a mapping (key: value), not {kind(value)}")
    return None


def top_level(problems: Problems, value: Any, keys: Sequence[str], source: str) -> dict[Any, Any]:
    """The file's mapping; anything else is the one problem worth reporting."""
    expected = f"a mapping with the keys {', '.join(keys)}"
    if value is None:
        problems.add("", f"the file is empty; expected {expected}")
    elif not isinstance(value, dict):
        problems.add("", f"the top level must be {expected}, not {kind(value)}")
    if not isinstance(value, dict):
        problems.raise_if_any(source)
    return value


def sequence(problems: Problems, path: str, value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    problems.add(path, f"must be a list, not {kind(value)}")
    return []


def check_keys(
    problems: Problems, path: str, data: Mapping[Any, Any], required: Sequence[str], optional: Sequence[str] = ()
) -> None:
    """Report unknown keys (with the closest known one) and missing required keys."""
    known = list(required) + list(optional)
    for key in data:
        if key in known:
            continue
        name = str(key)
        hint = suggestion(name, known) or f" (known keys: {', '.join(known)})"
        problems.add(path, f"unknown key {name!r}{hint}", at=child(path, name))
    for key in required:
        if key not in data:
            problems.add(path, f"missing required key {key!r}")


def text(problems: Problems, path: str, value: Any, *, multiline: bool = False) -> str:
    """A non-empty name on one line, free of control characters, encodable as UTF-8; or a longer description."""
    if not isinstance(value, str):
        problems.add(path, f"must be text, not {kind(value)}")
        return ""
    limit = MAX_DESCRIPTION if multiline else MAX_NAME
    unencodable = not_utf8(value)  # a lone surrogate, "\ud800": stored or mailed, it would fail
    if unencodable:
        problems.add(path, unencodable)
    elif not value.strip() and not multiline:
        problems.add(path, "must not be empty")
    elif len(value) > limit:
        problems.add(path, f"is {len(value)} characters long; at most {limit} are allowed")
    elif not multiline and len(value.splitlines()) > 1 or any(_forbidden(ch, multiline) for ch in value):
        what = "control characters" if multiline else "line breaks or control characters"
        problems.add(path, f"must not contain {what}")
    return value


def _forbidden(ch: str, multiline: bool) -> bool:
    if multiline and ch in "\n\t":
        return False
    return unicodedata.category(ch) in ("Cc", "Zl", "Zp") or ch in BIDI_CONTROLS


def slug(problems: Problems, path: str, value: Any, *, what: str = "key", pattern: re.Pattern[str] = SLUG) -> str:
    if not isinstance(value, str):
        problems.add(path, f"must be a {what} (text), not {kind(value)}")
        return ""
    if len(value) > MAX_KEY:
        problems.add(path, f"{value[:MAX_KEY]!r}… is longer than {MAX_KEY} characters")
    elif not pattern.fullmatch(value):
        allowed = "lowercase letters a-z, digits and single hyphens"
        if pattern is USERNAME:
            allowed = "lowercase letters a-z, digits, '.', '_' and '-', starting with a letter or digit"
        problems.add(path, f"{value!r} is not a valid {what}: use {allowed} (no å, ä, ö or spaces)")
    return value


def whole(problems: Problems, path: str, value: Any, *, minimum: int = 0, maximum: int = MAX_DAYS) -> int:
    """A whole number of days; true/false is refused although Python counts it as an int."""
    if isinstance(value, bool) or not isinstance(value, int):
        problems.add(path, f"must be a whole number of days ≥ {minimum}, not {_shown(value)}")
        return minimum
    if value < minimum:
        problems.add(path, f"must be a whole number of days ≥ {minimum}, not {value}")
    elif value > maximum:
        problems.add(path, f"must be at most {maximum} days, not {value}")
    return value


def optional_whole(problems: Problems, path: str, value: Any, *, minimum: int) -> int | None:
    return None if value is None else whole(problems, path, value, minimum=minimum)


def flag(problems: Problems, path: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    problems.add(path, f"must be true or false, not {_shown(value)}")
    return bool(value)


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str) and len(value) <= 40:
        return repr(value)
    return kind(value)


def suggestion(value: str, choices: Iterable[str]) -> str:
    """` (did you mean 'x'?)` for a near miss, including one in the wrong case; else ''."""
    choices = list(choices)
    close = [c for c in choices if c.casefold() == value.casefold()] or difflib.get_close_matches(value, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def checked(problems: Problems, path: str, data: Mapping[Any, Any], name: str, check: Any, default: Any = "") -> Any:
    """Check `data[name]` with `check(problems, path, value)` if present; a missing key is
    reported once, by check_keys, not again as an empty value."""
    if name not in data:
        return default
    return check(problems, child(path, name), data[name])


def find_cycles(graph: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Each cycle met by a depth-first walk, as [a, b, a]; iterative, so a long chain
    of stages or units cannot exhaust the stack."""
    visiting, done = 1, 2
    state: dict[str, int] = {}
    found: list[list[str]] = []
    for root in graph:
        if root in state:
            continue
        path, pending = [root], [iter(graph[root])]
        state[root] = visiting
        while pending:
            nxt = next(pending[-1], None)
            if nxt is None:
                state[path.pop()] = done
                pending.pop()
            elif state.get(nxt) == visiting:
                found.append(path[path.index(nxt) :] + [nxt])
            elif nxt not in state and nxt in graph:
                state[nxt] = visiting
                path.append(nxt)
                pending.append(iter(graph[nxt]))
    return found


def slug_list(problems: Problems, path: str, value: Any, *, what: str, at_least_one: bool = False) -> tuple[str, ...]:
    """A list of keys naming units or stages, each once."""
    values = sequence(problems, path, value)
    if at_least_one and isinstance(value, list) and not values:
        problems.add(path, f"must list at least one {what}")
    keys: list[str] = []
    for index, raw in enumerate(values):
        key = slug(problems, item(path, index), raw, what=f"{what} key")
        if key and key in keys:
            problems.add(item(path, index), f"{key!r} is listed twice")
        keys.append(key)
    return tuple(keys)
