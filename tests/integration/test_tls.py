"""SMTP over TLS: STARTTLS and implicit TLS (smtps), against aiosmtpd with a throwaway certificate."""

from __future__ import annotations

import shutil
import ssl

import pytest

from cycle import actions
from notifications.service import send_reminders
from notifications.transport import SmtpTransport, sender_from
from tests.integration.conftest import ADMIN, Sink, free_port, local, self_signed

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command for a certificate")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1, made here so no key is ever committed."""
    cert, key = self_signed(tmp_path_factory.mktemp("tls"))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    client = ssl.create_default_context(cafile=str(cert))
    return server, client


@pytest.fixture
def opened(wheel, clock):
    clock.set(local("2026-01-12T09:00"))
    actions.open_stage(wheel, "karin", "ange-2027", "omvarldsanalys")
    return wheel


@pytest.mark.parametrize("tls", ["starttls", "implicit"])
def test_mail_goes_out_over_tls(opened, certificate, tls):
    from aiosmtpd.controller import Controller

    server_context, client_context = certificate
    sink = Sink(port=free_port())
    options = {"require_starttls": True, "tls_context": server_context} if tls == "starttls" else {}
    if tls == "implicit":
        options["ssl_context"] = server_context
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port, **options)
    controller.start()
    transport = SmtpTransport("127.0.0.1", sink.port, sender_from(None), tls=tls, ssl_context=client_context,
                              timeout=5)  # fmt: skip
    try:
        assert send_reminders(opened, ADMIN, None, transport)["messages"] == 4
    finally:
        transport.close()
        controller.stop()
    assert len(sink.received) == 4


def test_a_certificate_we_do_not_trust_keeps_the_mail_waiting(opened, certificate):
    from aiosmtpd.controller import Controller

    server_context, _ = certificate
    sink = Sink(port=free_port())
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port, require_starttls=True,
                            tls_context=server_context)  # fmt: skip
    controller.start()
    transport = SmtpTransport("127.0.0.1", sink.port, sender_from(None), tls="starttls", timeout=5)
    try:
        counts = send_reminders(opened, ADMIN, None, transport)
    finally:
        transport.close()
        controller.stop()
    assert counts["retrying"] == 4 and sink.received == []
