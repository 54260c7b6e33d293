"""Delivery through the outbox: SMTP reply codes, retries on the injected clock, leases
that survive a crash, unsafe headers, the `.eml` folder and the transport settings."""

from __future__ import annotations

import datetime as dt
import email
import email.header
import email.policy
import email.utils

import idna
import pytest
from sqlalchemy import update

from cycle import actions
from cycle.database import Database
from cycle.errors import BadInput, MissingRole
from cycle.models import OutboxMessage, Person
from notifications import outbox, service
from notifications.delivery import deliver
from notifications.service import list_reminders, plan_reminders, send_reminders, transport_from_env
from notifications.transport import FileTransport, SmtpTransport, Transport, sender_from
from tests.integration.conftest import ADMIN, local, shown_from

C, S = "ange-2027", "omvarldsanalys"
JOHANNA = "johanna.nilsson@example.se"
MINUTE = dt.timedelta(minutes=1)


@pytest.fixture
def opened(wheel, clock):
    """The first stage has just opened: four contributors each have one notice due."""
    clock.set(local("2026-01-12T09:00"))
    actions.open_stage(wheel, "karin", C, S)
    clock.set(local("2026-01-12T09:05"))
    return wheel


def row_of(db, person: str) -> dict:
    (row,) = [r for r in list_reminders(db, ADMIN) if r["to"] == person]
    return row


def test_451_three_times_then_250_is_retried_with_growing_backoff(opened, clock, smtp, smtp_sink):
    smtp_sink.script[JOHANNA] = ["451 4.3.0 Try again later"] * 3
    first = send_reminders(opened, ADMIN, None, smtp)
    assert first == {"enqueued": 4, "sent": 3, "failed": 0, "retrying": 1, "messages": 3, "enqueued_messages": 4,
                     "refused": 0}  # fmt: skip
    # Each number says what it counts: 4 reminders to 4 people, 3 delivered in 3 messages, johanna's waits.
    assert service.summary(first) == "reminders: 4 enqueued, 3 sent in 3 messages; messages: 1 retrying, 0 failed"
    row = row_of(opened, "johanna")
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert row["last_error"] == "the server refused the message: 451 4.3.0 Try again later"
    start = clock.now()

    for waited, attempts in ((1, 2), (3, 3), (7, 4)):  # next attempt 1, 2, 4 minutes after each
        clock.set(start + (waited - 1) * MINUTE + dt.timedelta(seconds=59))
        assert send_reminders(opened, ADMIN, None, smtp)["retrying"] == 0  # not yet
        clock.set(start + waited * MINUTE)
        counts = send_reminders(opened, ADMIN, None, smtp)
        assert row_of(opened, "johanna")["attempts"] == attempts
    assert counts == {"enqueued": 0, "sent": 1, "failed": 0, "retrying": 0, "messages": 1, "enqueued_messages": 0,
                      "refused": 0}  # fmt: skip
    assert row_of(opened, "johanna")["status"] == "sent"
    assert sorted(r.to for r in smtp_sink.take()).count(JOHANNA) == 1
    assert smtp_sink.attempts == 4 + 3


def test_a_message_retried_during_a_long_run_waits_for_the_next_run(opened, clock, smtp, smtp_sink):
    class Slow(Transport):
        """The real relay, with every message taking two minutes of the injected clock."""

        def send(self, msg, to):  # noqa: ANN001 - the port's signature
            clock.advance(2 * MINUTE)
            smtp.send(msg, to)

        def describe(self):  # noqa: ANN201
            return "slow " + smtp.describe()

    smtp_sink.script[JOHANNA] = ["451 4.3.0 Try again later"] * 2
    counts = send_reminders(opened, ADMIN, None, Slow(smtp.sender))
    assert (counts["messages"], counts["retrying"]) == (3, 1)
    row = row_of(opened, "johanna")
    assert (row["status"], row["attempts"]) == ("pending", 1)  # not claimed again, unsent, by the same run


def test_backoff_grows_to_an_hour_and_then_gives_up():
    assert [outbox.backoff(n).total_seconds() / 60 for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]


def test_550_fails_the_row_for_good(opened, clock, smtp, smtp_sink):
    smtp_sink.script[JOHANNA] = ["550 5.1.1 No such user"]
    assert send_reminders(opened, ADMIN, None, smtp)["failed"] == 1
    failed = list_reminders(opened, ADMIN, status="failed")
    assert [(r["to"], r["last_error"]) for r in failed] == [
        ("johanna", "the server refused the message: 550 5.1.1 No such user")
    ]
    clock.advance(dt.timedelta(days=1))
    send_reminders(opened, ADMIN, None, smtp)
    assert smtp_sink.attempts == 4  # never tried again
    assert [r["to"] for r in list_reminders(opened, ADMIN, status="sent")] == ["james", "linnea", "sara"]


def test_a_dropped_connection_is_retried_and_the_run_goes_on(opened, clock, smtp, smtp_sink):
    smtp_sink.script[JOHANNA] = ["drop"]
    assert send_reminders(opened, ADMIN, None, smtp)["retrying"] == 1
    assert "connection" in row_of(opened, "johanna")["last_error"]
    assert len(smtp_sink.take()) == 3  # the others went out over a new connection
    clock.advance(MINUTE)
    assert send_reminders(opened, ADMIN, None, smtp)["messages"] == 1
    assert [r.to for r in smtp_sink.take()] == [JOHANNA]


def test_an_unreachable_server_keeps_the_rows_for_later(opened, clock):
    from tests.integration.conftest import free_port

    nowhere = SmtpTransport("127.0.0.1", free_port(), smtp_sender(), timeout=2)
    assert send_reminders(opened, ADMIN, None, nowhere)["retrying"] == 4
    assert {r["status"] for r in list_reminders(opened, ADMIN)} == {"pending"}


def test_a_relay_down_for_two_days_loses_no_reminder_and_backs_off_to_hourly(opened, clock):
    from tests.integration.conftest import Sink, free_port, serving

    port = free_port()
    nowhere = SmtpTransport("127.0.0.1", port, smtp_sender(), timeout=2)
    waits = []
    for _ in range(outbox.MAX_ATTEMPTS + 20):  # more tries than a relay answering 451 would be given
        counts = send_reminders(opened, ADMIN, None, nowhere)
        assert (counts["retrying"], counts["failed"]) == (4, 0)
        due = dt.datetime.fromisoformat(row_of(opened, "johanna")["next_attempt_at"])
        waits.append((due - clock.now()) / MINUTE)
        clock.set(due)
    assert f"the SMTP server 127.0.0.1:{port} was unreachable" in service.summary(counts)
    assert waits[:9] == [1, 1, 2, 4, 8, 16, 32, 60, 60] and set(waits[9:]) == {60}
    assert {(r["status"], r["attempts"]) for r in list_reminders(opened, ADMIN)} == {("pending", 0)}

    with serving(Sink(port=port)) as sink:  # the relay is back
        counts = send_reminders(opened, ADMIN, None, nowhere)
        nowhere.close()
    assert (counts["messages"], len(sink.received)) == (4, 4)
    assert {(r["status"], r["attempts"]) for r in list_reminders(opened, ADMIN)} == {("sent", 1)}


def test_a_relay_down_fails_a_message_only_once_it_is_older_than_the_limit(opened, clock, smtp):
    from tests.integration.conftest import free_port

    with opened.write() as session:
        outbox.enqueue(session, service.due_now(session, clock.now()), clock.now(), smtp.sender)
        session.execute(update(OutboxMessage).values(attempts=outbox.MAX_ATTEMPTS - 1))  # tries do not matter here
    nowhere = SmtpTransport("127.0.0.1", free_port(), smtp_sender(), timeout=2)
    clock.advance(outbox.GIVE_UP_AFTER - MINUTE)  # deliver only: later slots' reminders would be enqueued
    assert (deliver(opened, nowhere)["retrying"]) == 4
    clock.advance(outbox.LONGEST_WAIT)
    counts = deliver(opened, nowhere)
    assert (counts["failed"], counts["retrying"]) == (4, 0)  # counted as what happened to them
    failed = list_reminders(opened, ADMIN, status="failed")
    assert len(failed) == 4
    assert all(r["last_error"].startswith(f"gave up after {outbox.GIVE_UP_AFTER.days} days") for r in failed)


def test_a_relay_that_answers_451_still_uses_up_the_tries(opened, clock, smtp, smtp_sink):
    smtp_sink.script[JOHANNA] = ["451 4.3.0 Try again later"]
    with opened.write() as session:
        outbox.enqueue(session, service.due_now(session, clock.now()), clock.now(), smtp.sender)
        session.execute(update(OutboxMessage).values(attempts=outbox.MAX_ATTEMPTS - 1))
    counts = send_reminders(opened, ADMIN, None, smtp)
    assert (counts["messages"], counts["failed"], counts["retrying"]) == (3, 1, 0)
    assert row_of(opened, "johanna")["last_error"] == (
        f"gave up after {outbox.MAX_ATTEMPTS} attempts: the server refused the message: 451 4.3.0 Try again later"
    )


def smtp_sender():
    from notifications.transport import sender_from

    return sender_from(None)


def test_a_crash_between_claim_and_delivery_is_recovered_after_the_lease(opened, clock, smtp, smtp_sink, db_url):
    with opened.write() as session:
        outbox.enqueue(session, service.due_now(session, clock.now()), clock.now(), smtp.sender)
    claimed = outbox.claim(opened, "node-a", 10)
    assert len(claimed) == 4
    # node-a hands one message to the server, then dies before recording anything.
    from notifications.mail import compose

    smtp.send(compose(claimed[0].letter, smtp.sender), claimed[0].letter.to_email)
    opened.dispose()

    restarted = Database(db_url, clock=clock)
    try:
        assert send_reminders(restarted, ADMIN, None, smtp)["messages"] == 0  # node-a's lease still holds
        clock.advance(outbox.LEASE)
        assert send_reminders(restarted, ADMIN, None, smtp)["messages"] == 4
        rows = list_reminders(restarted, ADMIN)
    finally:
        restarted.dispose()
    assert {(r["status"], r["attempts"]) for r in rows} == {("sent", 2)}
    received = smtp_sink.take()
    ids = [str(r.message["Message-ID"]) for r in received]
    assert len(received) == 5 and len(set(ids)) == 4  # the resend is recognisable by its Message-ID
    assert ids.count(claimed[0].letter.message_id) == 2


class OutlastingTheLease(Transport):
    """A fake of our Transport port: the real relay, but its first message takes a whole lease.

    While it takes it, `meanwhile` runs (another sender at work); then that first message is
    sent after all, or fails with `failure`.
    """

    def __init__(self, relay: Transport, clock, meanwhile=None, failure: Exception | None = None):  # noqa: ANN001
        super().__init__(relay.sender)
        self.relay, self.clock, self.meanwhile, self.failure = relay, clock, meanwhile, failure
        self.first = True

    def send(self, msg, to):  # noqa: ANN001 - the port's signature
        if self.first:
            self.first = False
            self.clock.advance(outbox.LEASE)
            if self.meanwhile:
                self.meanwhile()
            if self.failure:
                raise self.failure
        self.relay.send(msg, to)

    def describe(self) -> str:
        return "slow " + self.relay.describe()


def test_a_late_sender_cannot_overwrite_the_outcome_of_the_one_that_took_over(opened, clock, smtp):
    with opened.write() as session:
        outbox.enqueue(session, service.due_now(session, clock.now()), clock.now(), smtp.sender)
    stale = outbox.claim(opened, "node-a", 1)[0]
    clock.advance(outbox.LEASE)
    assert deliver(opened, smtp, worker="node-b")["messages"] == 4
    assert outbox.record(opened, "node-a", stale, Exception("451 late")) == outbox.LOST
    assert row_of(opened, list_reminders(opened, ADMIN)[0]["to"])["status"] == "sent"


def test_a_sender_that_lost_its_claims_midway_does_not_count_them(opened, clock, smtp, smtp_sink):
    took_over = {}

    def node_b_takes_every_row_over():
        took_over.update(deliver(opened, smtp, worker="node-b"))

    late = send_reminders(opened, ADMIN, None, OutlastingTheLease(smtp, clock, node_b_takes_every_row_over))
    assert took_over["messages"] == 4
    # Every row's outcome is node-b's: the late run reports them as taken over, not as its own.
    assert late == {"enqueued": 4, "sent": 0, "failed": 0, "retrying": 0, "messages": 0, "taken_over": 4,
                    "enqueued_messages": 4, "refused": 0}  # fmt: skip
    assert service.summary(late).endswith("messages: 0 retrying, 0 failed, 4 taken over by another sender")
    assert {r["status"] for r in list_reminders(opened, ADMIN)} == {"sent"}


def test_a_sender_whose_rows_were_taken_over_sends_none_of_them_again(opened, clock, smtp, smtp_sink, db_url):
    from notifications.errors import TryLater

    with opened.write() as session:
        outbox.enqueue(session, service.due_now(session, clock.now()), clock.now(), smtp.sender)
    node_b = Database(db_url, clock=clock)  # a second sender on the same database file
    relay_b = SmtpTransport("127.0.0.1", smtp_sink.port, smtp.sender, timeout=5)
    took_over = {}

    def node_b_takes_every_row_over():
        took_over.update(deliver(node_b, relay_b, worker="node-b"))

    # The first message hangs for a whole lease, then times out.
    hanging = OutlastingTheLease(smtp, clock, node_b_takes_every_row_over, TryLater("the connection timed out"))
    try:
        late = deliver(opened, hanging, worker="node-a")
    finally:
        node_b.dispose()
    assert took_over["messages"] == 4
    assert (late["messages"], late["taken_over"]) == (0, 4)
    ids = [str(r.message["Message-ID"]) for r in smtp_sink.take()]
    assert len(ids) == 4 and len(set(ids)) == 4  # each message arrived once: node-a sent none of the rest
    assert {(r["status"], r["attempts"]) for r in list_reminders(opened, ADMIN)} == {("sent", 2)}


def test_a_sender_whose_lease_ran_out_leaves_the_rest_of_its_batch_to_the_next(opened, clock, smtp, smtp_sink, db_url):
    late = send_reminders(opened, ADMIN, None, OutlastingTheLease(smtp, clock))  # a whole lease for one
    assert (late["messages"], late.get("taken_over")) == (1, 3)  # no more once the lease had run out
    node_b = Database(db_url, clock=clock)
    try:
        assert deliver(node_b, smtp, worker="node-b")["messages"] == 3
    finally:
        node_b.dispose()
    ids = [str(r.message["Message-ID"]) for r in smtp_sink.take()]
    assert len(ids) == 4 and len(set(ids)) == 4
    assert {r["status"] for r in list_reminders(opened, ADMIN)} == {"sent"}


def test_a_name_with_a_line_break_fails_that_row_and_reaches_no_header(opened, smtp, smtp_sink):
    with opened.write() as session:
        session.execute(update(Person).where(Person.username == "sara").values(name="Sara\r\nBcc: evil@example.com"))
    counts = send_reminders(opened, ADMIN, None, smtp)
    assert counts["failed"] == 1 and counts["messages"] == 3 and counts["refused"] == 1
    assert service.summary(counts).endswith("; messages: 0 retrying, 1 failed (1 could not be built)")
    (failed,) = list_reminders(opened, ADMIN, status="failed")
    assert failed["to"] == "sara" and "line break" in failed["last_error"]
    assert all("evil" not in r.raw.decode() and r.rcpt_tos != ["evil@example.com"] for r in smtp_sink.take())


@pytest.mark.parametrize("name, shown", [
    ("Sara Lund\xa0", "Sara Lund"),  # a no-break space pasted in after the name in the organisation file
    ("Sara Ångström-Lund, enhetschef för äldreomsorgen i Ånge\xa0",  # two encoded words, folded
     "Sara Ångström-Lund, enhetschef för äldreomsorgen i Ånge"),
])  # fmt: skip
def test_a_name_with_a_no_break_space_is_sent_as_readers_show_it(opened, smtp, smtp_sink, name, shown):
    with opened.write() as session:
        session.execute(update(Person).where(Person.username == "sara").values(name=name))
    assert send_reminders(opened, ADMIN, None, smtp)["messages"] == 4
    (sara,) = [r for r in smtp_sink.take() if r.to == "sara.lund@example.se"]
    # Read as RFC 2047 says (the blanks between encoded words dropped), which Python 3.11's own parser does not do.
    head = email.message_from_bytes(sara.raw, policy=email.policy.compat32)
    ((display, addr),) = email.utils.getaddresses(["".join(head["To"].splitlines())])
    assert str(email.header.make_header(email.header.decode_header(display))) == shown
    assert addr == "sara.lund@example.se"


@pytest.mark.parametrize("configured, shown", [
    # a comma in the name, not quoted: once refused ("the sender's address 'Årshjulet' is not valid")
    ("Årshjulet för Ånge kommun, ekonomiavdelningen <arshjul@ange.example>",
     "Årshjulet för Ånge kommun, ekonomiavdelningen"),
    # once read "… uppföljningför budgetåret": Python's folder left the blank outside the encoded words at a fold
    ('"Årshjulet i Ånge, planering och uppföljning för budgetåret" <arshjul@ange.example>',
     "Årshjulet i Ånge, planering och uppföljning för budgetåret"),
    ("Årshjulet\xa0 för  Ånge <arshjul@ange.example>", "Årshjulet för Ånge"),  # whitespace as in To:
])  # fmt: skip
def test_a_long_sender_name_outside_ascii_reaches_readers_word_for_word(opened, smtp_sink, configured, shown):
    relay = SmtpTransport("127.0.0.1", smtp_sink.port, sender_from(configured), timeout=5)
    try:
        assert send_reminders(opened, ADMIN, None, relay)["sent"] == 4
    finally:
        relay.close()
    received = smtp_sink.take()
    assert len(received) == 4
    for message in received:
        assert shown_from(message.raw) == (shown, "arshjul@ange.example")
        assert message.mail_from == "arshjul@ange.example"
        head = message.raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
        assert all(len(line) <= 78 for line in head)


def test_a_relay_without_smtputf8_fails_a_non_ascii_address_at_once(opened, clock):
    from tests.integration.conftest import Sink, free_port, serving

    with opened.write() as session:  # an internationalised domain: only a relay offering SMTPUTF8 takes it
        session.execute(update(Person).where(Person.username == "sara").values(email="sara@växjö.se"))
    with serving(Sink(port=free_port()), enable_SMTPUTF8=False) as sink:
        plain = SmtpTransport("127.0.0.1", sink.port, smtp_sender(), timeout=5)
        counts = send_reminders(opened, ADMIN, None, plain)
        clock.advance(dt.timedelta(days=1))
        again = send_reminders(opened, ADMIN, None, plain)
        plain.close()
    assert (counts["messages"], counts["failed"], counts["retrying"]) == (3, 1, 0)
    assert again["retrying"] == 0 and sink.attempts == 3  # never tried again
    (failed,) = list_reminders(opened, ADMIN, status="failed")
    assert (failed["to"], failed["attempts"]) == ("sara", 1)
    assert failed["last_error"] == (
        f"the SMTP server 127.0.0.1:{sink.port} does not offer SMTPUTF8, which the address sara@växjö.se needs"
    )


def test_a_relay_with_smtputf8_takes_a_non_ascii_address(opened, smtp, smtp_sink):
    with opened.write() as session:
        session.execute(update(Person).where(Person.username == "sara").values(email="sara@växjö.se"))
    assert send_reminders(opened, ADMIN, None, smtp)["messages"] == 4
    (received,) = [r for r in smtp_sink.take() if r.to == "sara@växjö.se"]
    (to,) = received.message["To"].addresses  # the header, in ASCII, says the same as the envelope
    assert (to.username, idna.decode(to.domain)) == ("sara", "växjö.se")


def test_an_eml_file_names_a_non_ascii_domain_in_its_idna_form_in_to(opened, tmp_path):
    with opened.write() as session:
        session.execute(
            update(Person).where(Person.username == "sara").values(name="Sara Ångström", email="sara@växjö.se")
        )
    folder = tmp_path / "arshjul-mail"
    assert send_reminders(opened, ADMIN, None, transport_from_env({}, folder))["messages"] == 4
    (sara,) = [row for row in list_reminders(opened, ADMIN) if row["to"] == "sara"]
    raw = (folder / (sara["message_id"].strip("<>").replace("@", "_at_") + ".eml")).read_bytes()
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    (to_line,) = [line for line in head.splitlines() if line.startswith("To:")]
    # An encoded word may stand for the display name (RFC 2047), never inside the address.
    assert to_line.endswith(" <sara@xn--vxj-qla6g.se>") and to_line.count("=?") == 1
    (to,) = email.message_from_bytes(raw, policy=email.policy.default)["To"].addresses
    assert (to.display_name, f"{to.username}@{idna.decode(to.domain)}") == ("Sara Ångström", "sara@växjö.se")


def test_a_sender_with_a_non_ascii_domain_goes_out_in_its_idna_form(opened):
    from tests.integration.conftest import Sink, free_port, serving

    sender = sender_from("Årshjulet <hjul@växjö.se>")
    # A relay without SMTPUTF8: our own address must not make every message need it.
    with serving(Sink(port=free_port()), enable_SMTPUTF8=False) as sink:
        plain = SmtpTransport("127.0.0.1", sink.port, sender, timeout=5)
        counts = send_reminders(opened, ADMIN, None, plain)
        plain.close()
    assert (counts["messages"], counts["failed"], len(sink.received)) == (4, 0, 4)
    for received in sink.received:
        msg = received.message
        assert received.mail_from == "hjul@xn--vxj-qla6g.se"
        (frm,) = msg["From"].addresses
        assert (frm.display_name, frm.username, idna.decode(frm.domain)) == ("Årshjulet", "hjul", "växjö.se")
        assert str(msg["Message-ID"]).endswith("@xn--vxj-qla6g.se>") and not msg["Message-ID"].defects


def test_a_sender_domain_that_is_no_internationalised_domain_name_is_bad_input(tmp_path):
    with pytest.raises(BadInput) as caught:  # U+2603 passed IDNA 2003 but is not allowed by IDNA 2008
        transport_from_env({"ARSHJUL_MAIL_FROM": "hjul@\u2603.se"}, tmp_path)
    assert caught.value.message.startswith("ARSHJUL_MAIL_FROM: the sender's domain '\u2603.se' is not a valid")


def test_without_an_smtp_url_messages_are_eml_files(opened, tmp_path):
    folder = tmp_path / "arshjul-mail"
    transport = transport_from_env({}, folder)
    assert isinstance(transport, FileTransport) and transport.describe() == f".eml files in {folder}"
    assert send_reminders(opened, ADMIN, None, transport)["messages"] == 4
    files = sorted(folder.glob("*.eml"))
    assert len(files) == 4
    msg = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert str(msg["From"]) == "arshjul <arshjul@localhost>"
    assert msg["Message-ID"].endswith("@localhost>")


def test_an_eml_file_that_cannot_be_written_leaves_no_half_message_behind(opened, clock, tmp_path):
    from email.message import EmailMessage

    folder = tmp_path / "arshjul-mail"
    transport = transport_from_env({}, folder)
    with opened.write() as session:
        outbox.enqueue(session, service.due_now(session, clock.now()), clock.now(), transport.sender)
    blocked = EmailMessage()
    blocked["Message-ID"] = list_reminders(opened, ADMIN)[0]["message_id"]
    transport.path_for(blocked).mkdir(parents=True)  # the rename onto it fails
    assert send_reminders(opened, ADMIN, None, transport)["retrying"] == 4
    assert list(folder.glob("*.tmp")) == []


def test_list_filters_by_status_and_refuses_unknown_ones(opened, smtp, smtp_sink):
    smtp_sink.script[JOHANNA] = ["451 busy"]
    send_reminders(opened, ADMIN, None, smtp)
    pending = list_reminders(opened, ADMIN, status="pending")
    assert [(r["to"], r["items"]) for r in pending] == [("johanna", 1)]
    assert set(pending[0]) == {"id", "to", "email", "subject", "status", "attempts", "next_attempt_at",
                               "last_error", "created_at", "sent_at", "message_id", "items"}  # fmt: skip
    assert len(list_reminders(opened, ADMIN, status="sent")) == 3
    with pytest.raises(BadInput):
        list_reminders(opened, ADMIN, status="bogus")


@pytest.mark.parametrize("use", [plan_reminders, list_reminders])
def test_only_admins_may_work_the_reminders(opened, clock, use):
    with pytest.raises(MissingRole):
        use(opened, "sara", *([clock.now()] if use is plan_reminders else []))


def test_the_smtp_url_and_sender_come_from_the_environment(tmp_path):
    env = {"ARSHJUL_SMTP_URL": "smtp://relay%40ange.se:p%3Ass%2F1@mail.ange.se:2525?starttls=true",
           "ARSHJUL_MAIL_FROM": "Årshjulet <arshjul@ange.se>"}  # fmt: skip
    smtp = transport_from_env(env, tmp_path)
    assert isinstance(smtp, SmtpTransport)
    assert (smtp.host, smtp.port, smtp.tls, smtp.username, smtp.password) == (
        "mail.ange.se",
        2525,
        "starttls",
        "relay@ange.se",
        "p:ss/1",
    )
    assert str(smtp.sender) == "Årshjulet <arshjul@ange.se>"
    assert smtp.describe() == "SMTP smtp://mail.ange.se:2525 with STARTTLS, login as relay@ange.se"
    implicit = transport_from_env({"ARSHJUL_SMTP_URL": "smtps://mail.ange.se"}, tmp_path)
    assert (implicit.port, implicit.tls, implicit.username) == (465, "implicit", None)
    assert transport_from_env({"ARSHJUL_SMTP_URL": "smtp://mail.ange.se"}, tmp_path).port == 25


@pytest.mark.parametrize("env, said", [
    ({"ARSHJUL_SMTP_URL": "http://u:secret@mail.ange.se"}, "ARSHJUL_SMTP_URL 'http://mail.ange.se' is not"),
    ({"ARSHJUL_SMTP_URL": "smtp://u:secret@mail.ange.se:port"}, "ARSHJUL_SMTP_URL 'smtp://mail.ange.se:port'"),
    ({"ARSHJUL_SMTP_URL": "smtp://u:secret#1@mail.ange.se"}, "ARSHJUL_SMTP_URL 'smtp://mail.ange.se': percent"),
    ({"ARSHJUL_SMTP_URL": "smtp://u:25/secret@mail.ange.se"}, "ARSHJUL_SMTP_URL 'smtp://mail.ange.se': percent"),
    ({"ARSHJUL_SMTP_URL": "smtp://mail.ange.se?timeout=-1"}, "the timeout must be a finite number of seconds above 0"),
    ({"ARSHJUL_SMTP_URL": "smtp://mail.ange.se?timeout=nan"}, "the timeout must be a finite number of seconds above 0"),
    ({"ARSHJUL_SMTP_URL": "smtp://u:secret@mail..ange.se"}, "ARSHJUL_SMTP_URL 'smtp://mail..ange.se': encoding"),
    ({"ARSHJUL_MAIL_FROM": "Evil\nBcc: x@y.se <a@b.se>"}, "ARSHJUL_MAIL_FROM"),
    ({"ARSHJUL_SMTP_URL": "smtp://u:secret@[::1:25"}, "ARSHJUL_SMTP_URL 'smtp://[::1:25': Invalid IPv6 URL"),
    ({"ARSHJUL_SMTP_URL": "smtp://u:secret@mail.ange.se?tls=yes"},  # once ignored: the mail went out unencrypted
     "ARSHJUL_SMTP_URL 'smtp://mail.ange.se?tls=yes': unknown parameter tls: it takes starttls and timeout"),
    ({"ARSHJUL_SMTP_URL": "smtp://mail.ange.se?starttls=maybe"}, "starttls is true or false, not 'maybe'"),
    ({"ARSHJUL_SMTP_URL": "smtps://mail.ange.se?starttls=true"},
     "smtps:// is TLS from the start; ?starttls=true is for smtp://"),
    ({"ARSHJUL_SMTP_URL": "smtp://mail.ange.se:0"}, "the port 0 is not between 1 and 65535"),
    ({"ARSHJUL_SMTP_URL": "smtp://mail.ange.se:99999"}, "the port 99999 is not between 1 and 65535"),
])  # fmt: skip
def test_bad_mail_settings_are_bad_input_and_never_echo_a_password(tmp_path, env, said):
    with pytest.raises(BadInput) as caught:
        transport_from_env(env, tmp_path)
    assert said in caught.value.message and "secret" not in caught.value.message


def test_smtp_login_with_credentials_from_the_url(opened, tmp_path):
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    from tests.integration.conftest import Sink, free_port

    logins = []

    def authenticator(server, session, envelope, mechanism, auth_data):  # noqa: ANN001 - aiosmtpd's signature
        logins.append((mechanism, auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == b"p:ss")

    sink = Sink(port=free_port())
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port, authenticator=authenticator,
                            auth_require_tls=False)  # fmt: skip
    controller.start()
    try:
        url = f"smtp://relay%40ange.se:p%3Ass@127.0.0.1:{sink.port}?timeout=2"
        assert send_reminders(opened, ADMIN, None, transport_from_env({"ARSHJUL_SMTP_URL": url}, tmp_path))[
            "messages"] == 4  # fmt: skip
        wrong = url.replace("p%3Ass", "wrong")
        opened.clock.advance(dt.timedelta(days=5))  # the contributors' before-28 reminders are due
        counts = send_reminders(opened, ADMIN, None, transport_from_env({"ARSHJUL_SMTP_URL": wrong}, tmp_path))
    finally:
        controller.stop()
    assert logins[0][1:] == (b"relay@ange.se", b"p:ss")
    assert len(sink.received) == 4
    # A refused login is our configuration's fault, not the messages': all wait, after one try.
    assert counts["retrying"] == 4 and len(logins) == 2
