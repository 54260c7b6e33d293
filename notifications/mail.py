"""Building one mail: headers through `email.headerregistry`, values checked first.

A value with a line break would start a new header (or a body) if it reached the
wire, so every header value is refused if `str.splitlines()` would split it (CR, LF,
VT, FF, FS/GS/RS, NEL, U+2028, U+2029) or if it holds another control character.
Values that look like RFC 2047 encoded words (`=?utf-8?q?a=0Ab?=`) are refused too:
Python's header folding decodes them, so `=?utf-8?q?a=0Ab?=` in a display name would
reach the wire as a raw line feed. As a last guard the finished headers are parsed
back and must say exactly what was meant.

Headers are ASCII (`email.policy.SMTP`), so a domain outside ASCII (`växjö.se`) goes
into From, To and Message-ID in its IDNA form (`xn--vxj-qla6g.se`, RFC 5890): never as
an encoded word, which RFC 2047 (section 5) forbids inside an address. Display names may
be encoded words. Local parts outside ASCII are refused: they need SMTPUTF8 end to end
and have no ASCII form. The envelope keeps the recipient's address as given (`transport`).
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import email.utils
import re
import unicodedata
from dataclasses import dataclass
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage

import idna

from notifications.errors import UnsafeHeader

ENCODED_WORD = re.compile(r"=\?.*\?=", re.DOTALL)
BLANKS = re.compile(r"[ \t]+")


@dataclass(frozen=True)
class Letter:
    """Everything the outbox keeps to (re)build a message byte for byte."""

    to_name: str
    to_email: str
    subject: str
    text: str
    html: str
    message_id: str
    date: dt.datetime  # aware


def header_text(value: str, what: str) -> str:
    """`value` if it is safe as (part of) a header, else UnsafeHeader naming `what`."""
    if value and value.splitlines() != [value]:
        raise UnsafeHeader(f"{what} contains a line break: {value!r}")
    if any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") and ch != "\t" for ch in value):
        raise UnsafeHeader(f"{what} contains a line break or control character: {value!r}")
    if ENCODED_WORD.search(value):
        raise UnsafeHeader(f"{what} contains an RFC 2047 encoded word: {value!r}")
    return value


def display_name(name: str) -> str:
    """Blanks as a mail reader shows them: runs of spaces and tabs are one space, none at the ends."""
    return BLANKS.sub(" ", name).strip(" ")


def address(name: str, addr: str, what: str = "recipient") -> Address:
    header_text(name, f"the {what}'s name")
    header_text(addr, f"the {what}'s address")
    name = display_name(name)
    try:
        parsed = Address(display_name=name, addr_spec=addr)
    except (ValueError, IndexError, HeaderParseError) as err:
        raise UnsafeHeader(f"the {what}'s address {addr!r} is not valid: {err}") from err
    if parsed.addr_spec != addr or "@" not in addr:
        raise UnsafeHeader(f"the {what}'s address {addr!r} is not a plain address")
    return parsed


def ascii_domain(domain: str, what: str) -> str:
    """`domain` as ASCII headers and a plain SMTP envelope carry it: its IDNA A-labels (RFC 5890/5891)."""
    if domain.isascii():
        return domain
    try:
        return idna.encode(domain, uts46=True).decode("ascii")  # UTS 46 first: `Växjö.se` is `växjö.se`
    except UnicodeError as err:  # idna.IDNAError is one
        raise UnsafeHeader(f"{what} {domain!r} is not a valid internationalised domain name: {err}") from err


def ascii_address(parsed: Address, what: str = "recipient") -> Address:
    """The same address with its domain in IDNA form, for a header that must stay ASCII."""
    domain = ascii_domain(parsed.domain, f"the {what}'s domain")
    return Address(display_name=parsed.display_name, username=parsed.username, domain=domain)


def message_id(outbox_id: int, created: dt.datetime, domain: str) -> str:
    """Stable per outbox row, so a resend after a crash carries the same Message-ID."""
    header_text(domain, "the Message-ID domain")
    return f"<arshjul.{outbox_id}.{created:%Y%m%d%H%M%S}@{ascii_domain(domain, 'the Message-ID domain')}>"


def compose(letter: Letter, sender: Address) -> EmailMessage:
    """The message to one recipient: From, To, Subject, Date, Message-ID; text and HTML parts."""
    msg = EmailMessage(policy=email.policy.SMTP)
    to = ascii_address(address(letter.to_name, letter.to_email))
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = header_text(letter.subject, "the subject")
    msg["Date"] = email.utils.format_datetime(letter.date.astimezone(dt.UTC))
    msg["Message-ID"] = header_text(letter.message_id, "the Message-ID")
    msg.set_content(letter.text)
    msg.add_alternative(letter.html, subtype="html")
    _require_round_trip(msg, letter, to)
    return msg


def _same_words(parsed: str, meant: str) -> bool:
    """Equal but for runs of blanks: Python's folding may double a space between encoded words."""
    if parsed and parsed.splitlines() != [parsed]:
        return False
    return BLANKS.sub(" ", parsed) == BLANKS.sub(" ", meant)


def _require_round_trip(msg: EmailMessage, letter: Letter, meant: Address) -> None:
    """Parse the headers back: anything that did not survive unchanged is refused."""
    head = msg.as_bytes().split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
    parsed = email.message_from_bytes(head, policy=email.policy.default)
    to = parsed["To"].addresses if parsed["To"] is not None else ()
    checks = {
        "the recipient": len(to) == 1
        and (to[0].display_name, to[0].addr_spec) == (display_name(letter.to_name), meant.addr_spec),
        "the subject": _same_words(str(parsed["Subject"]), letter.subject),
        "the Message-ID": str(parsed["Message-ID"]).strip() == letter.message_id,
    }
    broken = [what for what, ok in checks.items() if not ok]
    if broken:
        raise UnsafeHeader(f"{', '.join(broken)} would not survive as a mail header unchanged")
