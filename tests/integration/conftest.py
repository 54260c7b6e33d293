"""Fixtures for the reminder tests: a real SMTP server on loopback, and the Ånge wheel.

The SMTP server is aiosmtpd's `Controller` on 127.0.0.1; its handler records every
message it accepts and can be scripted to answer the next DATA commands with any
reply (`451 …`, `550 …`) or to drop the connection (`drop`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email
import email.header
import email.policy
import email.utils
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from cycle.cycles import start_cycle
from cycle.organisation import load_organisation

ADMIN = "nils"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @property
    def message(self) -> email.message.EmailMessage:
        return email.message_from_bytes(self.raw, policy=email.policy.default)

    @property
    def to(self) -> str:
        return self.rcpt_tos[0]

    def text(self) -> str:
        return self.message.get_body(("plain",)).get_content().replace("\r\n", "\n")

    def html(self) -> str:
        return self.message.get_body(("html",)).get_content().replace("\r\n", "\n")


@dataclass
class Sink:
    """The aiosmtpd handler: accepts and records, or answers as scripted."""

    port: int = 0
    received: list[Received] = field(default_factory=list)
    script: dict[str, list[str]] = field(default_factory=dict)  # recipient address -> next replies
    attempts: int = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001 - aiosmtpd's hook signature
        self.attempts += 1
        queued = self.script.get(envelope.rcpt_tos[0], [])
        reply = queued.pop(0) if queued else "250 OK"
        if reply == "drop":
            server.transport.close()  # the connection goes away mid-transaction
            return "421 closing"
        if reply.startswith("250"):
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return reply

    def take(self) -> list[Received]:
        """The messages received since the last call."""
        taken, self.received = self.received, []
        return taken


def shown_from(raw: bytes) -> tuple[str, str]:
    """From: as an RFC 2047 reader shows it (the blanks between encoded words dropped; Python 3.11's own parser
    keeps them, python/cpython#128110)."""
    head = email.message_from_bytes(raw, policy=email.policy.compat32)
    ((display, addr),) = email.utils.getaddresses(["".join(head["From"].splitlines())])
    return str(email.header.make_header(email.header.decode_header(display))), addr


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate (and its key) for 127.0.0.1 signed by itself, made here so no key is ever committed;
    needs the openssl command."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def serving(sink, **server):
    """A real SMTP server on 127.0.0.1 handing what it receives to `sink`; `server`: aiosmtpd's SMTP options."""
    from aiosmtpd.controller import Controller

    controller = Controller(sink, hostname="127.0.0.1", port=sink.port, **server)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


@pytest.fixture
def smtp_sink():
    with serving(Sink(port=free_port())) as sink:
        yield sink


@pytest.fixture
def smtp(smtp_sink):
    from notifications.transport import SmtpTransport, sender_from

    transport = SmtpTransport("127.0.0.1", smtp_sink.port, sender_from("Årshjulet <arshjul@ange.example>"), timeout=5)
    yield transport
    transport.close()


@pytest.fixture
def wheel(db, clock, ange, ange_org):
    """The Ånge organisation and its 2027 cycle, started on Monday 2026-01-05."""
    clock.set(dt.datetime(2026, 1, 5, 8, 0, tzinfo=dt.UTC))
    load_organisation(db, ADMIN, ange_org)
    start_cycle(db, ADMIN, ange, 2027)
    return db


def local(text: str) -> dt.datetime:
    """A Stockholm wall-clock moment, `YYYY-MM-DDTHH:MM`, as an aware UTC datetime."""
    from cycle.clock import parse_moment

    return parse_moment(text, "Europe/Stockholm")
