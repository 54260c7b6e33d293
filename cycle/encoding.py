"""Text that cannot be encoded as UTF-8 is refused where it enters, naming where that was.

Python hands such text over without complaint: a YAML file may write a lone surrogate
(`"\\ud800"`), and the command line and the environment carry bytes that are not UTF-8
as lone surrogates (PEP 383): `-m $'\\xff'` from a Latin-1 terminal arrives as `'\\udcff'`.
Nothing can store, log, print or mail it, so if it got in it would fail much later, half
way through, as a `UnicodeEncodeError`. The readers of the files, the command line and
the mail settings all ask `not_utf8` instead, before anything is written.
"""

from __future__ import annotations

from cycle.errors import BadInput

_ESCAPED = range(0xDC80, 0xDD00)  # PEP 383: an undecodable byte 0xNN arrives as U+DCNN


def not_utf8(value: str) -> str | None:
    """Why `value` cannot be encoded as UTF-8, in words; None if it can."""
    at = _first_unencodable(value)
    if at is None:
        return None
    return f"cannot be encoded as UTF-8: character {at + 1} is a lone surrogate, {ascii(value[at])}"


def require_utf8(value: str, where: str, *, secret: bool = False) -> str:
    """`value` (from the command line, the environment, a file name) if it can be encoded as UTF-8, else BadInput
    naming `where` it came from, and the byte that was not UTF-8 if that is how the surrogate came about.
    A `secret` value (a URL with a password in it) is not quoted, not even one character of it."""
    at = _first_unencodable(value)
    if at is None:
        return value
    if secret:
        raise BadInput(f"{where} cannot be encoded as UTF-8: it holds a byte that is not UTF-8 or a lone surrogate")
    why = not_utf8(value)
    if ord(value[at]) in _ESCAPED:
        why += f" (the byte 0x{ord(value[at]) - 0xDC00:02X}, which is not UTF-8)"
    raise BadInput(f"{where} {why}")


def _first_unencodable(value: str) -> int | None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        return err.start
    return None
