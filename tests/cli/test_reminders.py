"""`reminders plan|send|list` and `scheduler run` through the command line."""

from __future__ import annotations

import csv
import email
import email.policy
import io
import json
import selectors
import signal
import subprocess
import time

import idna

from tests.cli.conftest import CYCLE, STAGE, arshjul_command, clean_env
from tests.integration.conftest import shown_from

PLAN_KEYS = {"to", "cycle", "stage", "input", "unit", "kind", "deadline", "reason"}
FRIDAY = "2026-02-06T07:00"  # Stockholm: a week before the inputs are due on 2026-02-13


def test_plan_json_has_the_contract_shape_and_sends_nothing(cli, tmp_path):
    cli("--as", "oskar", "stage", "open", CYCLE, STAGE)
    rows = json.loads(cli("--as", "nils", "reminders", "plan", "--at", FRIDAY, "--format", "json").stdout)
    assert all(PLAN_KEYS <= set(r) for r in rows)
    submit = {r["to"] for r in rows if r["kind"] == "submit"}
    assert submit == {"sara", "johanna", "james", "linnea"}
    assert all(r["deadline"] == "2026-02-13" and r["cycle"] == CYCLE for r in rows if r["kind"] == "submit")
    assert json.loads(cli("--as", "nils", "reminders", "list", "--format", "json").stdout) == []


def test_plan_at_is_read_in_the_cycles_time_zone_unless_it_has_an_offset(cli):
    cli("--as", "oskar", "stage", "open", CYCLE, STAGE)

    def slots(at: str) -> set[str]:
        rows = json.loads(cli("--as", "nils", "reminders", "plan", "--at", at, "--format", "json").stdout)
        return {r["slot"] for r in rows if r["kind"] == "submit"}

    # The 7-days-before slot is due from 07:00 Stockholm time on 2026-02-06 (06:00 UTC).
    assert slots("2026-02-06T06:59") == {"before-28"}
    assert slots("2026-02-06T07:00") == {"before-7"}
    assert slots("2026-02-06T06:00Z") == {"before-7"}
    assert slots("2026-02-06T06:59+01:00") == {"before-28"}


def test_plan_csv_has_a_header_and_the_same_rows_as_json(cli):
    cli("--as", "oskar", "stage", "open", CYCLE, STAGE)
    plan = ("--as", "nils", "reminders", "plan", "--at", FRIDAY, "--format")
    rows = list(csv.DictReader(io.StringIO(cli(*plan, "csv").stdout)))
    as_json = json.loads(cli(*plan, "json").stdout)
    assert rows and [{k: r[k] for k in PLAN_KEYS} for r in rows] == [
        {k: "" if j[k] is None else str(j[k]) for k in PLAN_KEYS} for j in as_json
    ]


def test_send_writes_eml_files_once_and_list_shows_them(cli, tmp_path):
    cli("--as", "oskar", "stage", "open", CYCLE, STAGE)
    mail = tmp_path / "mail"
    first = cli("--as", "nils", "reminders", "send", "--at", FRIDAY, "--mail-dir", str(mail))
    assert first.code == 0 and f".eml files in {mail}" in first.stderr
    files = sorted(mail.glob("*.eml"))
    assert len(files) >= 4
    message = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert message["To"] and message["Subject"]
    again = cli("--as", "nils", "reminders", "send", "--at", FRIDAY, "--mail-dir", str(mail))
    assert "reminders: 0 enqueued, 0 sent in 0 messages;" in again.stderr and len(list(mail.glob("*.eml"))) == len(
        files
    )
    sent = json.loads(cli("--as", "nils", "reminders", "list", "--status", "sent", "--format", "json").stdout)
    assert len(sent) == len(files) and all(m["status"] == "sent" for m in sent)
    assert json.loads(cli("--as", "nils", "reminders", "list", "--status", "failed", "--format", "json").stdout) == []
    table = cli("--as", "nils", "reminders", "list").stdout
    assert table.startswith("ID") and "sent" in table


def test_reminders_are_for_admins_and_check_their_input(cli):
    assert cli("--as", "oskar", "reminders", "plan").code == 1
    assert cli("--as", "ulf", "reminders", "list").code == 1
    assert cli("--as", "nils", "reminders", "plan", "--at", "fredag").code == 2
    assert cli("--as", "nils", "reminders", "list", "--status", "lost").code == 2


def test_send_uses_smtp_when_arshjul_smtp_url_is_set(run, url, smtp_sink, tmp_path):
    assert run("--db", url, "--as", "oskar", "stage", "open", CYCLE, STAGE).code == 0
    env = {"ARSHJUL_SMTP_URL": f"smtp://127.0.0.1:{smtp_sink.port}", "ARSHJUL_MAIL_FROM": "Hjulet <hjul@ange.example>"}
    ran = run("--db", url, "--as", "nils", "reminders", "send", "--at", FRIDAY, env=env)
    assert ran.code == 0, ran.stderr
    received = smtp_sink.take()
    assert {r.to for r in received} >= {"sara.lund@example.se", "linnea.soderstrom@example.se"}
    assert not (tmp_path / "arshjul-mail").exists()


def test_send_with_a_long_sender_name_outside_ascii_shows_it_word_for_word(run, url, smtp_sink):
    assert run("--db", url, "--as", "oskar", "stage", "open", CYCLE, STAGE).code == 0
    name = "Årshjulet för Ånge kommun, ekonomiavdelningen"  # as people write it: the comma not quoted
    env = {"ARSHJUL_SMTP_URL": f"smtp://127.0.0.1:{smtp_sink.port}", "ARSHJUL_MAIL_FROM": f"{name} <hjul@ange.se>"}
    ran = run("--db", url, "--as", "nils", "reminders", "send", "--at", FRIDAY, env=env)
    assert ran.code == 0, ran.stderr
    received = smtp_sink.take()
    assert received and all(shown_from(r.raw) == (name, "hjul@ange.se") for r in received)


def test_send_with_a_non_ascii_sender_domain_writes_its_idna_form(run, url, tmp_path):
    run("--db", url, "--as", "oskar", "stage", "open", CYCLE, STAGE)
    env = {"ARSHJUL_MAIL_FROM": "Hjulet <hjul@växjö.se>", "ARSHJUL_MAIL_DIR": str(tmp_path / "mail")}
    ran = run("--db", url, "--as", "nils", "reminders", "send", "--at", FRIDAY, env=env)
    assert ran.code == 0, ran.stderr
    files = sorted((tmp_path / "mail").glob("*.eml"))
    assert files and all(f.name.endswith("_at_xn--vxj-qla6g.se.eml") for f in files)
    for path in files:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        (sender,) = message["From"].addresses
        assert (sender.display_name, sender.addr_spec) == ("Hjulet", "hjul@xn--vxj-qla6g.se")
        assert idna.decode(sender.domain) == "växjö.se"
        assert str(message["Message-ID"]).endswith("@xn--vxj-qla6g.se>")


def test_send_refuses_a_sender_domain_that_is_no_domain_name_and_writes_nothing(run, url, tmp_path):
    run("--db", url, "--as", "oskar", "stage", "open", CYCLE, STAGE)
    env = {"ARSHJUL_MAIL_FROM": "hjul@☃.se", "ARSHJUL_MAIL_DIR": str(tmp_path / "mail")}
    ran = run("--db", url, "--as", "nils", "reminders", "send", "--at", FRIDAY, env=env)
    assert ran.code == 2
    assert ran.stderr.startswith("Error: ARSHJUL_MAIL_FROM: the sender's domain '☃.se' is not a valid")
    assert not (tmp_path / "mail").exists()
    assert run("--db", url, "--as", "nils", "reminders", "list", "--format", "json").stdout == "[]\n"


def test_send_says_when_the_relay_was_unreachable(run, url):
    from tests.integration.conftest import free_port

    run("--db", url, "--as", "oskar", "stage", "open", CYCLE, STAGE)
    port = free_port()
    env = {"ARSHJUL_SMTP_URL": f"smtp://127.0.0.1:{port}?timeout=2"}
    ran = run("--db", url, "--as", "nils", "reminders", "send", "--at", FRIDAY, env=env)
    assert ran.code == 0
    assert f"; the SMTP server 127.0.0.1:{port} was unreachable: " in ran.stderr
    assert "(the messages wait for it, keeping their tries)" in ran.stderr


def test_send_with_eml_writes_files_even_when_smtp_is_configured(run, url, tmp_path):
    run("--db", url, "--as", "oskar", "stage", "open", CYCLE, STAGE)
    env = {"ARSHJUL_SMTP_URL": "smtp://127.0.0.1:9", "ARSHJUL_MAIL_DIR": str(tmp_path / "preview")}
    ran = run("--db", url, "--as", "nils", "reminders", "send", "--eml", "--at", FRIDAY, env=env)
    assert ran.code == 0 and list((tmp_path / "preview").glob("*.eml"))


def test_scheduler_runs_until_sigterm(url, tmp_path):
    args = [*arshjul_command(), "--db", url, "--as", "nils", "scheduler", "run", "--interval", "60",
            "--mail-dir", str(tmp_path / "mail")]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env(), cwd=tmp_path)
    try:
        said = _read_until(proc, "tick", seconds=30)
        assert "scheduler: every 60 s" in said
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0
    assert "Traceback" not in said + err.decode("utf-8")


def test_scheduler_is_for_admins(cli):
    ran = cli("--as", "oskar", "scheduler", "run")
    assert ran.code == 1 and "admin" in ran.stderr


def _read_until(proc: subprocess.Popen, word: str, seconds: float) -> str:
    """stderr of `proc` up to the first line containing `word`, waiting at most `seconds`."""
    said = ""
    deadline = time.monotonic() + seconds
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stderr, selectors.EVENT_READ)
        while word not in said and time.monotonic() < deadline:
            if selector.select(timeout=1):
                line = proc.stderr.readline().decode("utf-8")
                if not line:
                    break
                said += line
    assert word in said, said
    return said


def test_send_at_a_later_moment_says_the_reminder_goes_out_early_not_that_its_slot_is_today(cli, tmp_path):
    # The clock says Monday 2026-02-02; the admin sends what Friday's 7-days-before slot holds.
    cli("--as", "oskar", "stage", "open", CYCLE, STAGE)
    mail = tmp_path / "mail"
    assert cli("--as", "nils", "reminders", "send", "--at", FRIDAY, "--mail-dir", str(mail)).code == 0
    read = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in mail.glob("*.eml")]
    by_to = {m["To"].addresses[0].username: m for m in read}
    sara = by_to["sara.lund"].get_body(("plain",)).get_content()  # Swedish
    assert "13 februari 2026 (11 dagar kvar)" in sara  # counted from the day she reads it
    early = "planerad till 7 dagar före tidsgränsen 13 februari 2026, men skickas redan nu"
    # told with the notice that the stage opened, which is in the same digest
    assert (
        f"Varför nu:  etappen öppnades 2 februari 2026 av oskar; {early}" in sara and "Varför nu:  7 dagar" not in sara
    )
    html = by_to["sara.lund"].get_body(("html",)).get_content()
    assert f'<th align="left">Varför nu</th><td>etappen öppnades 2 februari 2026 av oskar; {early}</td>' in html
    james = by_to["james.whitfield"].get_body(("plain",)).get_content()  # English
    assert "13 February 2026 (11 days left)" in james
    assert (
        "Why now:    the stage was opened on 2 February 2026 by oskar; planned for 7 days before the deadline "
        "13 February 2026, but sent early" in james
    )


def test_a_stage_opened_after_an_inputs_slot_tells_each_contributor_of_their_input_once(cli, tmp_path):
    # Monday 2026-02-02: the inputs' 28-days-before slot (2026-01-16) passed before the stage opened,
    # so the opening notice and the reminder to submit are due together.
    assert cli("--as", "oskar", "stage", "open", CYCLE, STAGE).code == 0
    mail = tmp_path / "mail"
    sent = cli("--as", "nils", "reminders", "send", "--mail-dir", str(mail))
    assert sent.code == 0 and "reminders: 4 enqueued, 4 sent in 4 messages;" in sent.stderr  # one item each
    read = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in mail.glob("*.eml")]
    by_to = {m["To"].addresses[0].username: m for m in read}
    input_name = "Verksamhetens nulägeskoll och omvärldsanalys"
    sara = by_to["sara.lund"]  # Swedish
    text, html = (sara.get_body((part,)).get_content().replace("\r\n", "\n") for part in ("plain", "html"))
    assert sara["Subject"] == f"Årshjulet: Nulägeskoll och omvärldsanalys: {input_name} (11 dagar kvar)"
    assert "En sak i årshjulet väntar på dig:" in text and text.count(input_name) == 1
    assert "   Tidsgräns:  13 februari 2026 (11 dagar kvar)\n" in text
    assert "   Att göra:   lämna in underlaget för Barn och utbildning\n" in text
    assert "   Varför nu:  etappen öppnades 2 februari 2026 av oskar\n" in text
    assert f"   Kommando:   arshjul input submit {CYCLE} {STAGE} verksamhetsanalys --unit bou\n" in text
    assert "etappen är öppen" not in text and "arshjul status" not in text
    assert html.count(input_name) == 1 and html.count("<li>") == 1
    assert '<th align="left">Varför nu</th><td>etappen öppnades 2 februari 2026 av oskar</td>' in html
    james = by_to["james.whitfield"]  # English
    text, html = (james.get_body((part,)).get_content().replace("\r\n", "\n") for part in ("plain", "html"))
    assert "One item in the planning wheel is waiting for you:" in text and text.count(input_name) == 1
    assert "   To do:      submit the input for Samhällsbyggnad\n" in text
    assert "   Why now:    the stage was opened on 2 February 2026 by oskar\n" in text
    assert html.count(input_name) == 1 and "the stage is open" not in html
    assert '<th align="left">Why now</th><td>the stage was opened on 2 February 2026 by oskar</td>' in html


def test_an_escalation_sent_before_its_moment_does_not_call_the_input_overdue(cli, tmp_path):
    # The clock says Monday 2026-02-02; the admin sends what the 3-days-overdue escalation slot
    # (2026-02-16) holds, 11 days before the inputs are even due.
    cli("--as", "oskar", "stage", "open", CYCLE, STAGE)
    mail = tmp_path / "mail"
    assert cli("--as", "nils", "reminders", "send", "--at", "2026-02-16T07:00", "--mail-dir", str(mail)).code == 0
    read = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in mail.glob("*.eml")]
    karin = next(m for m in read if m["To"].addresses[0].username == "karin.lindqvist")  # owns the stage
    text, html = (karin.get_body((part,)).get_content().replace("\r\n", "\n") for part in ("plain", "html"))
    assert "   Att göra:   underlaget från Barn och utbildning är inte klart än; du äger etappen\n" in text
    assert "försenat" not in text and "försenat" not in html
    assert "<td>underlaget från Kultur och fritid är inte klart än; du äger etappen</td>" in html
    assert "Varför nu:  planerad till 3 dagar efter tidsgränsen 13 februari 2026, men skickas redan nu" in text


def test_plan_says_a_reminder_is_about_a_returned_input_by_whom_and_with_what_comment(cli, run, url):
    # Monday 2026-02-02: lars returns Socialtjänst's input; on the deadline (Friday 2026-02-13) johanna is reminded.
    cli("--as", "oskar", "stage", "open", CYCLE, STAGE)
    cli("--as", "johanna", "input", "submit", CYCLE, STAGE, "verksamhetsanalys", "--unit", "soc")
    returned = cli("--as", "lars", "input", "return", CYCLE, STAGE, "verksamhetsanalys", "--unit", "soc",
                   "-m", "Lägg till elevprognosen\nSe bilaga 2")  # fmt: skip
    assert returned.code == 0, returned.stderr
    ran = run("--db", url, "--as", "nils", "reminders", "plan", "--at", "2026-02-13T07:00")
    assert ran.code == 0, ran.stderr
    rows = {line.split()[0] + " " + line.split()[4]: line for line in ran.stdout.splitlines()[1:]}
    assert rows["johanna soc"].endswith(
        'submit  2026-02-13  on the deadline 2026-02-13; returned on 2026-02-02 by lars: "Lägg till elevprognosen\\nSe '
        'bilaga 2"'
    )
    assert rows["sara bou"].endswith("submit  2026-02-13  on the deadline 2026-02-13")  # missing: as before
    as_json = json.loads(run("--db", url, "--as", "nils", "reminders", "plan", "--at", "2026-02-13T07:00",
                             "--format", "json").stdout)  # fmt: skip
    (johanna,) = [r for r in as_json if r["to"] == "johanna"]
    assert johanna["reason"] == (
        'on the deadline 2026-02-13; returned on 2026-02-02 by lars: "Lägg till elevprognosen\nSe bilaga 2"'
    )


def test_plan_says_a_reminder_to_finish_is_about_a_returned_stage_by_whom_and_with_what_comment(cli, run, url):
    # Monday 2026-02-02: the analysis is handed in and approved, oskar submits the stage and lars returns it.
    cli("--as", "oskar", "stage", "open", CYCLE, STAGE)
    for unit, contributor in (("bou", "sara"), ("soc", "johanna"), ("sbf", "james"), ("kultur", "linnea")):
        cli("--as", contributor, "input", "submit", CYCLE, STAGE, "verksamhetsanalys", "--unit", unit)
        cli("--as", "eva", "input", "approve", CYCLE, STAGE, "verksamhetsanalys", "--unit", unit)
    assert cli("--as", "oskar", "stage", "submit", CYCLE, STAGE).code == 0
    comment = "Lägg till skatteprognosen\nSe bilaga 2"
    returned = cli("--as", "lars", "stage", "return", CYCLE, STAGE, "-m", comment)
    assert returned.code == 0, returned.stderr
    # 28 days before the stage's deadline (Friday 2026-03-13), its owners are reminded to finish it.
    ran = run("--db", url, "--as", "nils", "reminders", "plan", "--at", "2026-02-13T07:00")
    assert ran.code == 0, ran.stderr
    reason = f'28 days before the deadline 2026-03-13; returned on 2026-02-02 by lars: "{comment}"'
    rows = ran.stdout.splitlines()[1:]
    assert [row.split()[:3] for row in rows] == [[who, CYCLE, STAGE] for who in ("karin", "maria", "oskar")]
    assert all(row.endswith(f"  finish  2026-03-13  {reason}".replace("\n", "\\n")) for row in rows)  # one line
    as_json = json.loads(run("--db", url, "--as", "nils", "reminders", "plan", "--at", "2026-02-13T07:00",
                             "--format", "json").stdout)  # fmt: skip
    assert [(r["to"], r["kind"], r["input"], r["reason"]) for r in as_json] == [
        (who, "finish", None, reason) for who in ("karin", "maria", "oskar")
    ]
