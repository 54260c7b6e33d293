"""A relay whose certificate IT's own authority signed: the installed `arshjul` trusts exactly what
`SSL_CERT_FILE` names beside the system's authorities, as docs/deploy.md tells IT to set it."""

from __future__ import annotations

import shutil
import ssl

import pytest

from tests.cli.conftest import CYCLE, STAGE
from tests.integration.conftest import Sink, free_port, self_signed, serving

FRIDAY = "2026-02-06T07:00"  # a week before the inputs of STAGE are due: reminders go out
pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command for a certificate")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    return self_signed(tmp_path_factory.mktemp("kommun-ca"))


def send_over_smtps(run, url, certificate, **env: str):
    cert, key = certificate
    relay = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    relay.load_cert_chain(cert, key)
    assert run("--db", url, "--as", "oskar", "stage", "open", CYCLE, STAGE).code == 0
    with serving(Sink(port=free_port()), ssl_context=relay) as sink:
        env |= {"ARSHJUL_SMTP_URL": f"smtps://127.0.0.1:{sink.port}?timeout=5",
                "ARSHJUL_MAIL_FROM": "Hjulet <hjul@ange.example>"}  # fmt: skip
        ran = run("--db", url, "--as", "nils", "reminders", "send", "--at", FRIDAY, env=env)
    return ran, sink.received


def test_a_relay_certified_by_the_authority_in_ssl_cert_file_gets_the_mail(run, url, certificate):
    ran, received = send_over_smtps(run, url, certificate, SSL_CERT_FILE=str(certificate[0]))
    assert ran.code == 0, ran.stderr
    assert received and "0 retrying, 0 failed" in ran.stderr


def test_without_it_the_mail_waits_and_the_reason_names_the_certificate(run, url, certificate):
    ran, received = send_over_smtps(run, url, certificate)
    assert ran.code == 0, ran.stderr
    assert received == [] and "0 sent" in ran.stderr
    listed = run("--db", url, "--as", "nils", "reminders", "list", "--format", "json")
    assert "certificate" in listed.stdout.lower()
