"""Building one mail: headers through `email.headerregistry`, values checked first.

A value with a line break would start a new header (or a body) if it reached the
wire, so every header value is refused if `str.splitlines()` would split it (CR, LF,
VT, FF, FS/GS/RS, NEL, U+2028, U+2029) or if it holds another control character.
Values that look like RFC 2047 encoded words (`=?utf-8?q?a=0Ab?=`) are refused too:
Python's header folding decodes them, so `=?utf-8?q?a=0Ab?=` in a display name would
reach the wire as a raw line feed. As a last guard the finished headers are parsed
back and must say exactly what was meant, read as RFC 2047 (section 6.2) tells a mail reader to.

A display name (the sender's and the recipient's) or subject that is not plain ASCII on one line goes out as
encoded words that we fold ourselves (`encoded_words`), not through Python's folder: Python 3.11 may leave the
blank between two words outside the encoded words at a fold, where a reader drops it (`Ånge kommun` reads
`Ångekommun`), and may write a long ASCII display name unquoted, its commas and colons then read as more addresses.

Headers are ASCII (`email.policy.SMTP`), so a domain outside ASCII (`växjö.se`) goes
into From, To and Message-ID in its IDNA form (`xn--vxj-qla6g.se`, RFC 5890): never as
an encoded word, which RFC 2047 (section 5) forbids inside an address. Display names may
be encoded words. Local parts outside ASCII are refused: they need SMTPUTF8 end to end
and have no ASCII form. The envelope keeps the recipient's address as given (`transport`).
"""

from __future__ import annotations

import datetime as dt
import email
import email.charset
import email.policy
import email.utils
import itertools
import re
import unicodedata
from dataclasses import dataclass
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage

import idna

from cycle.encoding import not_utf8
from notifications.errors import UnsafeHeader

ENCODED_WORD = re.compile(r"=\?.*\?=", re.DOTALL)
LINE = 78  # RFC 5322 2.1.1: a header line should be at most 78 characters
WORD = 75  # RFC 2047 2: an encoded word is at most 75 characters
FOLD = "\r\n "
UTF8 = email.charset.Charset("utf-8")
_EW = rb"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?="
# RFC 2047 6.2: the (folding) blanks between two encoded words are no part of the text.
EW_GAP = re.compile(rb"(%s)(?:\r\n)?[ \t]+(?=%s)" % (_EW, _EW))


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
    unencodable = not_utf8(value)
    if unencodable:
        raise UnsafeHeader(f"{what} {unencodable}")
    return value


def display_name(name: str) -> str:
    """The name as a mail reader shows it on one line: a run of any whitespace (a no-break space too) is one space,
    none at the ends. Line breaks never get here: `header_text` refuses them first."""
    return " ".join(name.split())


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


def encoded_words(text: str, taken: int) -> str:
    """`text` as UTF-8 encoded words (RFC 2047), the first after `taken` characters of its line, folded between
    whole words: every blank of `text` is inside a word, and a reader joins the words without the folds."""
    room = itertools.chain([min(WORD, LINE - taken)], itertools.repeat(WORD))
    return FOLD.join(UTF8.header_encode_lines(text, room))


def _plain(value: str, taken: int) -> bool:
    """Whether Python may write `value` as it is: ASCII that fits on its line, so it is never folded or encoded."""
    return value.isascii() and taken + len(value) <= LINE


def _set_mailbox(msg: EmailMessage, header: str, who: Address) -> None:
    """From: or To: as Python writes it if the display name is plain, else the name as encoded words we fold
    ourselves."""
    taken = len(f"{header}: ")
    shown = str(who).removesuffix(f" <{who.addr_spec}>")  # the name, quoted if it must be
    if not who.display_name or _plain(shown, taken):
        msg[header] = who
        return
    words = encoded_words(who.display_name, taken)
    mailbox = f"<{who.addr_spec}>"
    fits = len(f"{header}: {words}".rsplit("\n", 1)[-1]) + 1 + len(mailbox) <= LINE
    # Stored as written, past the policy's check for line breaks (its folder would turn a U+2028 here into CRLF):
    # only ASCII encoded words and the checked address, in lines that fit, so it is not refolded either.
    msg.set_raw(header, f"{words}{' ' if fits else FOLD}{mailbox}")


def _set_subject(msg: EmailMessage, subject: str) -> None:
    """Subject: as it is if plain, else as encoded words we fold ourselves (stored as `_set_mailbox` stores them)."""
    if _plain(subject, len("Subject: ")):
        msg["Subject"] = subject
    else:
        msg.set_raw("Subject", encoded_words(subject, len("Subject: ")))


def compose(letter: Letter, sender: Address) -> EmailMessage:
    """The message to one recipient: From, To, Subject, Date, Message-ID; text and HTML parts."""
    msg = EmailMessage(policy=email.policy.SMTP)
    to = ascii_address(address(letter.to_name, letter.to_email))
    sender = _sender(sender)
    _set_mailbox(msg, "From", sender)
    _set_mailbox(msg, "To", to)
    _set_subject(msg, header_text(letter.subject, "the subject"))
    msg["Date"] = email.utils.format_datetime(letter.date.astimezone(dt.UTC))
    msg["Message-ID"] = header_text(letter.message_id, "the Message-ID")
    msg.set_content(letter.text)
    msg.add_alternative(letter.html, subtype="html")
    _require_round_trip(msg, letter, to, sender)
    return msg


def require_sender(sender: Address) -> Address:
    """`sender` as `compose` writes it into From:, once it is known to reach a reader unchanged; else UnsafeHeader.
    Asked when the sender is configured, so that a sender that cannot go out fails no message later."""
    sender = _sender(sender)
    msg = EmailMessage(policy=email.policy.SMTP)
    _set_mailbox(msg, "From", sender)
    if not _same_mailbox(_read_back(msg)["From"], sender):
        raise UnsafeHeader("the sender would not survive as a mail header unchanged")
    return sender


def _sender(sender: Address) -> Address:
    """The sender checked and shown as a recipient is: each run of whitespace one space, the domain in IDNA form."""
    return ascii_address(address(sender.display_name, sender.addr_spec, "sender"), "sender")


def _require_round_trip(msg: EmailMessage, letter: Letter, to: Address, sender: Address) -> None:
    """Parse the headers back: anything that did not survive unchanged is refused."""
    parsed = _read_back(msg)
    checks = {
        "the sender": _same_mailbox(parsed["From"], sender),
        "the recipient": _same_mailbox(parsed["To"], Address(display_name(letter.to_name), addr_spec=to.addr_spec)),
        "the subject": str(parsed["Subject"]) == letter.subject,
        "the Message-ID": str(parsed["Message-ID"]).strip() == letter.message_id,
    }
    broken = [what for what, ok in checks.items() if not ok]
    if broken:
        raise UnsafeHeader(f"{', '.join(broken)} would not survive as a mail header unchanged")


def _read_back(msg: EmailMessage) -> EmailMessage:
    """The headers of `msg` as a mail reader reads them.

    Python 3.11's parser keeps the blanks between two encoded words of a display name (python/cpython#128110),
    which RFC 2047 (6.2) says a reader drops; they are dropped here first, so this reads what a reader shows.
    """
    head = msg.as_bytes().split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
    return email.message_from_bytes(EW_GAP.sub(rb"\1", head), policy=email.policy.default)


def _same_mailbox(header, meant: Address) -> bool:
    """Whether a parsed From: or To: names exactly one mailbox: `meant`, display name and address."""
    found = header.addresses if header is not None else ()
    return len(found) == 1 and (found[0].display_name, found[0].addr_spec) == (meant.display_name, meant.addr_spec)
