"""Rendering digests and building mails: languages, dates, escaping, header safety."""

from __future__ import annotations

import datetime as dt
import email
import email.header
import email.policy
import email.utils
import re
import unicodedata
from email.headerregistry import Address

import jinja2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import escape

from notifications.errors import UnsafeHeader
from notifications.mail import Letter, compose, display_name
from notifications.render import TEMPLATES, early, late, long_date, render

SENDER = Address("Årshjulet", addr_spec="arshjul@ange.example")
KINDS = ("submit", "decide", "finish", "escalation", "opened", "returned")
SLOTS = {"submit": "before-7", "decide": "deadline", "finish": "overdue-3", "escalation": "overdue-6",
         "opened": "event-41", "returned": "event-42"}  # fmt: skip


def payload(kind: str = "submit", **changes) -> dict:
    """The documented item context (`Due.payload()`)."""
    slot = SLOTS[kind]
    slot_kind, _, number = slot.partition("-")
    data = {
        "to": "johanna", "kind": kind, "item_key": f"{kind}:ange-2027/tertialrapport/ekonomi@soc", "slot": slot,
        "key_date": "2027-05-07", "cycle": "ange-2027", "cycle_name": "Årshjul för Ånge kommun",
        "stage": "tertialrapport", "stage_name": "Tertialrapport per 30 april", "deadline": "2027-05-10",
        "days": 3, "reason": "7 days before the deadline 2027-05-10",
        "command": "arshjul input submit ange-2027 tertialrapport ekonomi --unit soc", "unit_name": "Socialtjänst",
        "input": "ekonomi", "input_name": "Ekonomiskt utfall och helårsprognos", "unit": "soc",
        "actor": "lars", "comment": "Se över prognosen" if kind == "returned" else None,
        "inputs": ["Ekonomiskt utfall"] if kind == "opened" else [], "slot_kind": slot_kind,
        "slot_days": int(number or 0),
    }  # fmt: skip
    return {**data, **changes}


def person(locale: str = "sv", name: str = "Johanna Nilsson") -> dict:
    return {"username": "johanna", "name": name, "locale": locale}


@pytest.mark.parametrize("locale", ["sv", "en"])
def test_every_template_renders_every_kind_with_its_documented_context(locale):
    # Each about other work: a notice and the reminder of the same work are told as one (see the tests below).
    done = render(person(locale), [payload(kind, input=f"{kind}-input") for kind in KINDS])
    assert "\n" not in done.subject and done.subject
    for kind in KINDS:
        assert payload(kind)["command"] in done.text and payload(kind)["command"] in done.html
    assert done.text.count("Tertialrapport per 30 april") == len(KINDS)


def test_swedish_readers_get_swedish_dates_and_words():
    done = render(person("sv"), [payload("submit", days=-3, slot="overdue-3", slot_kind="overdue", slot_days=3)])
    assert done.subject == (
        "Årshjulet: Tertialrapport per 30 april: Ekonomiskt utfall och helårsprognos (3 dagar försenad)"
    )
    assert "Tidsgräns:  10 maj 2027 (3 dagar försenad)" in done.text
    assert "Varför nu:  3 dagar efter tidsgränsen 10 maj 2027" in done.text
    assert "Att göra:   lämna in underlaget för Socialtjänst" in done.text


def test_english_readers_get_english():
    done = render(person("en"), [payload("decide", days=0, slot="deadline", slot_kind="deadline")])
    assert done.subject.endswith("(due today)")
    assert "Deadline:   10 May 2027 (due today)" in done.text and "approve or return" in done.text


SLOT_PHRASES = [  # slot, days left on its day, Swedish and English "why now" on that day
    ("before-7", 7, "7 dagar före tidsgränsen 10 maj 2027", "7 days before the deadline 10 May 2027"),
    ("before-1", 1, "1 dag före tidsgränsen 10 maj 2027", "1 day before the deadline 10 May 2027"),
    ("deadline", 0, "tidsgränsen är 10 maj 2027", "the deadline is 10 May 2027"),
    ("overdue-3", -3, "3 dagar efter tidsgränsen 10 maj 2027", "3 days after the deadline 10 May 2027"),
]
LATE_PHRASES = {  # the same slots, when the reminder goes out on a later day
    "before-7": ("planerad till 7 dagar före tidsgränsen 10 maj 2027, men skickas först nu",
                 "planned for 7 days before the deadline 10 May 2027, but only sent now"),
    "before-1": ("planerad till 1 dag före tidsgränsen 10 maj 2027, men skickas först nu",
                 "planned for 1 day before the deadline 10 May 2027, but only sent now"),
    "deadline": ("planerad till tidsgränsen 10 maj 2027, men skickas först nu",
                 "planned for the deadline 10 May 2027, but only sent now"),
    "overdue-3": ("planerad till 3 dagar efter tidsgränsen 10 maj 2027, men skickas först nu",
                  "planned for 3 days after the deadline 10 May 2027, but only sent now"),
}  # fmt: skip


def slotted(slot: str, days: int, kind: str = "submit") -> dict:
    slot_kind, _, number = slot.partition("-")
    return payload(kind, slot=slot, slot_kind=slot_kind, slot_days=int(number or 0), days=days)


@pytest.mark.parametrize("slot, days, sv, en", SLOT_PHRASES)
def test_a_reminder_sent_on_its_slots_day_says_the_slot_is_why(slot, days, sv, en):
    assert not late(slotted(slot, days))
    assert f"Varför nu:  {sv}\n" in render(person("sv"), [slotted(slot, days)]).text
    assert f"Why now:    {en}\n" in render(person("en"), [slotted(slot, days)]).text


@pytest.mark.parametrize("slot, days, sv, en", SLOT_PHRASES)
@pytest.mark.parametrize("later", [1, 4])
def test_a_reminder_sent_after_its_slots_day_says_it_was_planned_for_the_slot(slot, days, sv, en, later):
    item = slotted(slot, days - later)  # e.g. held up by the relay, and its days counted again when it went out
    assert late(item)
    late_sv, late_en = LATE_PHRASES[slot]
    swedish, english = render(person("sv"), [item]), render(person("en"), [item])
    assert f"Varför nu:  {late_sv}\n" in swedish.text
    assert f'<th align="left">Varför nu</th><td>{late_sv}</td>' in swedish.html
    assert f"Why now:    {late_en}\n" in english.text
    assert f'<th align="left">Why now</th><td>{late_en}</td>' in english.html


@pytest.mark.parametrize("slot, days, sv, en", SLOT_PHRASES)
@pytest.mark.parametrize("sooner", [1, 30])
def test_a_reminder_sent_before_its_slots_day_says_it_goes_out_early(slot, days, sv, en, sooner):
    item = slotted(slot, days + sooner)  # `reminders send --at` a later moment: the days counted from today
    assert early(item) and not late(item)
    late_sv, late_en = LATE_PHRASES[slot]
    early_sv = late_sv.replace("skickas först nu", "skickas redan nu")
    early_en = late_en.replace("only sent now", "sent early")
    swedish, english = render(person("sv"), [item]), render(person("en"), [item])
    assert f"Varför nu:  {early_sv}\n" in swedish.text
    assert f'<th align="left">Varför nu</th><td>{early_sv}</td>' in swedish.html
    assert f"Why now:    {early_en}\n" in english.text
    assert f'<th align="left">Why now</th><td>{early_en}</td>' in english.html


@pytest.mark.parametrize("kind", ["opened", "returned"])
def test_an_event_notice_is_never_late_whenever_it_goes_out(kind):
    assert not late(payload(kind, days=-30)) and not early(payload(kind, days=30))
    assert "skickas först nu" not in render(person("sv"), [payload(kind, days=-30)]).text


def test_an_unknown_locale_falls_back_to_swedish():
    assert render(person("de"), [payload()]).subject.startswith("Årshjulet:")


@pytest.mark.parametrize("day, sv, en", [
    ("2027-01-01", "1 januari 2027", "1 January 2027"), ("2027-03-31", "31 mars 2027", "31 March 2027"),
    ("2027-08-15", "15 augusti 2027", "15 August 2027"), ("2027-12-24", "24 december 2027", "24 December 2027"),
])  # fmt: skip
def test_long_dates(day, sv, en):
    assert (long_date(day, "sv"), long_date(dt.date.fromisoformat(day), "en")) == (sv, en)


def test_a_missing_variable_is_an_error_not_an_empty_string():
    broken = payload()
    del broken["unit_name"]
    with pytest.raises(jinja2.UndefinedError):
        render(person(), [broken])


def test_the_shipped_templates_are_the_ones_documented():
    names = sorted(p.name for p in TEMPLATES.iterdir())
    expected = [f"digest.{lang}.{ext}" for lang in ("en", "sv") for ext in ("html", "subject.txt", "txt")]
    assert names == sorted(expected + ["phrases.en.jinja", "phrases.sv.jinja"])


# --- headers -----------------------------------------------------------------------

BREAKS = ["\r", "\n", "\r\n", "\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c"]
HOSTILE = st.sampled_from(BREAKS + ["=?utf-8?q?a=0Ab?=", "=?utf-8?b?YQpi?=", "<script>alert(1)</script>", "&", '"'])
TEXT = st.lists(st.one_of(HOSTILE, st.text(max_size=8)), max_size=5).map("".join)
# Harmless but long and outside ASCII: a header of several encoded words, folded, with blanks of all kinds.
WORDS = ["Ann-Sofie", "Söderström", "Hägglund,", "ekonom", "på", "socialtjänsten", "<b>", "\xa0", "\u2003", " ", "  "]
LONG = st.lists(st.sampled_from(WORDS), min_size=8, max_size=30).map("".join)


def build(name: str, stage_name: str, comment: str, locale: str) -> tuple[Letter, bytes]:
    items = [
        payload("returned", stage_name=stage_name, comment=comment),
        payload("submit", stage_name=stage_name, input="kvalitet", input_name="Kvalitetsfaktorer"),
    ]
    done = render(person(locale, name), items)
    letter = Letter(name, "johanna.nilsson@example.se", done.subject, done.text, done.html,
                    "<arshjul.7.20270507070000@ange.example>", dt.datetime(2027, 5, 7, 5, tzinfo=dt.UTC))  # fmt: skip
    return letter, compose(letter, SENDER).as_bytes()


def unsafe(value: str) -> bool:
    """What must never reach a header: a line end to any mail software (all that `str.splitlines` splits on: CR, LF,
    VT, FF, FS/GS/RS, NEL, U+2028, U+2029), another control character but tab, or an RFC 2047 encoded word, which
    Python would decode on the way out. Other whitespace (a no-break space, an em space) is harmless."""
    return (
        value.splitlines() not in ([], [value])
        or any(unicodedata.category(c) in ("Cc", "Zl", "Zp") and c != "\t" for c in value)
        or re.search(r"=\?.*\?=", value, re.DOTALL) is not None
    )


def shown_to(raw: bytes) -> tuple[str, str]:
    """The To: header as an RFC 2047 reader shows it: the blanks between two encoded words are dropped (section 6.2).

    Python 3.11's `policy.default` parser keeps them in a display name (python/cpython#128110), so this reads the
    header with the older, independent `email.utils` and `email.header` functions, which drop them.
    """
    head = email.message_from_bytes(raw, policy=email.policy.compat32)
    ((name, addr),) = email.utils.getaddresses(["".join(head["To"].splitlines())])
    return str(email.header.make_header(email.header.decode_header(name))), addr


def header_lines(raw: bytes) -> list[bytes]:
    return raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")


@settings(max_examples=150, deadline=None)
@given(name=TEXT | LONG, stage_name=TEXT | LONG, comment=TEXT, locale=st.sampled_from(["sv", "en"]))
def test_hostile_names_comments_and_stage_names_never_change_the_headers(name, stage_name, comment, locale):
    try:
        letter, raw = build(name, stage_name, comment, locale)
    except UnsafeHeader:
        # Only a value that must not reach a header is refused: the name, or the stage name in the subject.
        assert unsafe(name) or unsafe(stage_name)
        return
    assert not unsafe(name) and not unsafe(stage_name)
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert sorted(parsed.keys()) == sorted(["From", "To", "Subject", "Date", "Message-ID", "MIME-Version",
                                            "Content-Type"])  # fmt: skip
    assert all(len(line) <= 78 for line in header_lines(raw))
    assert all(len(word) <= 75 for word in re.findall(rb"=\?\S*?\?=", b"\n".join(header_lines(raw))))
    (to,) = parsed["To"].addresses
    assert to.addr_spec == "johanna.nilsson@example.se"
    assert shown_to(raw) == (display_name(name), "johanna.nilsson@example.se")
    assert str(parsed["Subject"]) == letter.subject
    assert parsed["Message-ID"] == "<arshjul.7.20270507070000@ange.example>"
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
    html = parsed.get_body(("html",)).get_content()
    assert "<script>" not in html
    one_line = [v for v in (name, stage_name, comment) if v.strip() and v.splitlines() == [v]]
    assert all(escape(v) in html for v in one_line)
    text = parsed.get_body(("plain",)).get_content()
    assert ("<script>" in text) == any("<script>" in v for v in (name, stage_name, comment))


@pytest.mark.parametrize("name, shown, line", [
    # a no-break space pasted in after the name
    ("Johanna Nilsson\xa0", "Johanna Nilsson", "To: Johanna Nilsson <johanna.nilsson@example.se>"),
    ("\u2003Johanna\xa0 Nilsson\u3000", "Johanna Nilsson", "To: Johanna Nilsson <johanna.nilsson@example.se>"),
    # found by Hypothesis, once refused
    ("<script>alert(1)</script><script>alert(1)</script>\xa0", "<script>alert(1)</script><script>alert(1)</script>",
     'To: "<script>alert(1)</script><script>alert(1)</script>"'),
])  # fmt: skip
def test_a_name_with_a_no_break_space_or_other_whitespace_is_sent_as_readers_show_it(name, shown, line):
    letter, raw = build(name, "Tertialrapport", "", "sv")
    assert header_lines(raw)[1].decode() == line
    assert shown_to(raw) == (shown, "johanna.nilsson@example.se")
    (to,) = email.message_from_bytes(raw, policy=email.policy.default)["To"].addresses
    assert to.display_name == shown


@pytest.mark.parametrize("name", [
    "Ann-Sofie Söderström Hägglund, ekonom på socialtjänsten",  # once sent as "… ekonom påsocialtjänsten"
    "Anna-Karin Öberg Åkesson, enhetschef äldreomsorgen",  # once refused
])  # fmt: skip
def test_a_long_name_outside_ascii_is_folded_so_readers_show_every_word(name):
    letter, raw = build(name, "Tertialrapport", "", "sv")
    assert shown_to(raw) == (name, "johanna.nilsson@example.se")
    to = header_lines(raw)[1:3]
    assert to[0].startswith(b"To: =?utf-8?") and to[1].startswith(b" =?utf-8?")  # two encoded words, folded


def test_a_long_subject_outside_ascii_is_sent_word_for_word():
    stage = "Målbild och strategisk plan för välfärden"
    letter, raw = build("James Berg", stage, "", "en")  # once refused
    assert letter.subject == f"Planning wheel: {stage}: Ekonomiskt utfall och helårsprognos (3 days left) and 1 more"
    assert str(email.message_from_bytes(raw, policy=email.policy.default)["Subject"]) == letter.subject


@pytest.mark.parametrize("name", ["Eva\r\nBcc: x@evil.example", "=?utf-8?q?a=0Ab?=", "A\u2028B", "A\x85B",
                                  "Eva\xa0\r\nBcc: x@evil.example", "Eva\xa0\u2029Bcc: x@evil.example"])  # fmt: skip
def test_a_line_break_or_encoded_word_in_a_name_is_refused_with_what_and_why(name):
    with pytest.raises(UnsafeHeader) as caught:
        build(name, "Tertialrapport", "", "sv")
    assert "the recipient's name contains" in caught.value.message


@pytest.mark.parametrize("name", ["Sara \ud800 Lund", "Sara \udcff Lund"])
def test_a_name_that_cannot_be_encoded_is_refused_with_what_and_why(name):
    # Once a UnicodeEncodeError half way through building the mail; now that row fails, saying why.
    with pytest.raises(UnsafeHeader) as caught:
        build(name, "Tertialrapport", "", "sv")
    assert caught.value.message.startswith("the recipient's name cannot be encoded as UTF-8: character 6 is a lone")


# --- a notice and the reminder of the same work -----------------------------------


def opened_notice(*inputs: tuple[str, str]) -> dict:
    return payload("opened", input=None, input_name=None, item_key="opened:ange-2027/tertialrapport@soc",
                   command="arshjul status ange-2027", inputs=[n for _, n in inputs],
                   input_keys=[k for k, _ in inputs])  # fmt: skip


def test_an_opened_notice_asks_only_for_the_inputs_no_reminder_in_the_digest_tells_of():
    notice = opened_notice(("ekonomi", "Ekonomiskt utfall och helårsprognos"), ("kvalitet", "Kvalitetsfaktorer"))
    reminder = payload("submit", since="2027-05-07", since_event="open", slot="before-7", days=3)  # begun by opening
    swedish, english = render(person("sv"), [notice, reminder]), render(person("en"), [notice, reminder])
    assert "2 saker i årshjulet väntar på dig" in swedish.text
    assert swedish.text.count("Ekonomiskt utfall och helårsprognos") == 1  # in the reminder, not in the notice too
    assert "Att göra:   etappen är öppen: lämna in Kvalitetsfaktorer\n" in swedish.text
    assert "Varför nu:  etappen öppnades 7 maj 2027 av lars\n" in swedish.text  # both entries say who opened it
    assert swedish.text.count("etappen öppnades 7 maj 2027 av lars") == 2
    assert "Att göra:   lämna in underlaget för Socialtjänst\n" in swedish.text
    assert "the stage is open: submit Kvalitetsfaktorer</td>" in english.html
    assert english.html.count("Ekonomiskt utfall och helårsprognos") == 1


def test_an_opened_notice_queued_before_its_input_keys_were_kept_is_matched_by_name():
    notice = opened_notice(("ekonomi", "Ekonomiskt utfall och helårsprognos"))
    del notice["input_keys"]
    done = render(person("sv"), [notice, payload("submit", slot="before-7", days=7)])
    assert "En sak i årshjulet väntar på dig" in done.text and "etappen är öppen" not in done.text
    assert "Varför nu:  etappen öppnades 7 maj 2027 av lars; 7 dagar före tidsgränsen 10 maj 2027\n" in done.text


@pytest.mark.parametrize("locale, todo, why", [
    ("sv", "Att göra:   det har returnerats: rätta och lämna in igen\n",
     "Varför nu:  returnerades 7 maj 2027 av lars; 7 dagar före tidsgränsen 10 maj 2027\n"),
    ("en", "To do:      it was returned: correct it and submit again\n",
     "Why now:    returned on 7 May 2027 by lars; 7 days before the deadline 10 May 2027\n"),
])  # fmt: skip
def test_a_returned_input_and_the_reminder_to_submit_it_are_one_item_with_the_comment(locale, todo, why):
    items = [payload("returned"), payload("submit", slot="before-7", days=7)]
    done = render(person(locale), items)
    assert done.text.count("Ekonomiskt utfall och helårsprognos") == 1 and todo in done.text and why in done.text
    assert "Se över prognosen" in done.text and "Se över prognosen" in done.html
    assert done.html.count("<li>") == 1
    begun = payload("submit", slot="before-7", days=3, since="2027-05-07", since_event="return")
    assert why.split(";")[0] + "\n" in render(person(locale), [payload("returned"), begun]).text


@pytest.mark.parametrize("days, sv, en", [
    (-3, "underlaget från Socialtjänst är försenat; du äger etappen",
     "the input from Socialtjänst is overdue; you own the stage"),
    (0, "underlaget från Socialtjänst är inte klart och tidsgränsen är idag; du äger etappen",
     "the input from Socialtjänst is not done and due today; you own the stage"),
    (4, "underlaget från Socialtjänst är inte klart än; du äger etappen",
     "the input from Socialtjänst is not done yet; you own the stage"),
])  # fmt: skip
def test_an_escalation_says_the_input_is_overdue_only_when_it_is_as_it_is_sent(days, sv, en):
    item = slotted("overdue-3", days, kind="escalation")  # sent on its day, or early (`reminders send --at`)
    swedish, english = render(person("sv"), [item]), render(person("en"), [item])
    assert f"Att göra:   {sv}\n" in swedish.text and f'<th align="left">Att göra</th><td>{sv}</td>' in swedish.html
    assert f"To do:      {en}\n" in english.text and f'<th align="left">To do</th><td>{en}</td>' in english.html


@pytest.mark.parametrize("with_reminder", [False, True])
def test_two_returns_of_one_input_in_a_digest_are_one_item_with_the_newest_comment(with_reminder):
    first = payload("returned", slot="event-41", key_date="2027-05-05", actor="eva", comment="Första")
    second = payload("returned", slot="event-42", key_date="2027-05-07", comment="Andra")
    reminder = [payload("submit", slot="before-7", days=7)] if with_reminder else []
    swedish, english = render(person("sv"), [second, first, *reminder]), render(person("en"), [first, second])
    assert "En sak i årshjulet väntar på dig" in swedish.text and swedish.html.count("<li>") == 1
    assert "Varför nu:  returnerades igen 7 maj 2027 av lars" in swedish.text
    assert "Andra" in swedish.text and "Första" not in swedish.text and "Första" not in swedish.html
    assert "Why now:    returned again on 7 May 2027 by lars\n" in english.text


@pytest.mark.parametrize("days, sv, en", [
    (-3, "underlaget från Socialtjänst är inlämnat men inte godkänt, och tidsgränsen har passerat; du äger etappen",
     "the input from Socialtjänst was submitted but is not approved, and its deadline has passed; you own the stage"),
    (0, "underlaget från Socialtjänst är inlämnat men inte godkänt, och tidsgränsen är idag; du äger etappen",
     "the input from Socialtjänst was submitted but is not approved, and it is due today; you own the stage"),
    (4, "underlaget från Socialtjänst är inlämnat men inte godkänt än; du äger etappen",
     "the input from Socialtjänst was submitted but is not approved yet; you own the stage"),
])  # fmt: skip
def test_an_escalation_of_a_submitted_input_says_it_waits_for_approval(days, sv, en):
    item = slotted("overdue-3", days, kind="escalation") | {"state": "submitted"}
    assert sv in render(person("sv"), [item]).text and en in render(person("en"), [item]).html


def test_a_per_meeting_stage_is_named_with_its_meeting_so_two_instances_read_apart():
    def report(meeting: str, days: int) -> dict:
        stage = f"ks-ekonomirapport@{meeting}"
        return payload("finish", stage=stage, stage_name="Ekonomisk rapport till kommunstyrelsen", input=None,
                       input_name=None, item_key=f"finish:ange-2027/{stage}", days=days,
                       command=f"arshjul stage submit ange-2027 {stage}")  # fmt: skip

    items = [report("2027-03-02", -2), report("2027-04-13", 30)]
    swedish, english = render(person("sv"), items), render(person("en"), items)
    assert "1. Ekonomisk rapport till kommunstyrelsen (sammanträdet 2 mars 2027)\n" in swedish.text
    assert "2. Ekonomisk rapport till kommunstyrelsen (sammanträdet 13 april 2027)\n" in swedish.text
    assert swedish.subject == "Årshjulet: Ekonomisk rapport till kommunstyrelsen (sammanträdet 2 mars 2027) " \
                              "(2 dagar försenad) och 1 till"  # fmt: skip
    assert "<strong>Ekonomisk rapport till kommunstyrelsen (meeting of 13 April 2027)</strong>" in english.html
    assert "Tertialrapport per 30 april\n" in render(person("sv"), [payload("finish", input_name=None)]).text


def returned_input(kind: str = "submit", slot: str = "before-7", days: int = 7, **changes) -> dict:
    """A reminder about an input that is returned, as planned days after the return (no notice of it in the digest)."""
    back = {
        "returned_on": "2027-05-03",
        "returned_by": "eva",
        "comment": "Lägg till <b>prognosen</b> & LSS\nSe bilaga 2.",
    }
    return slotted(slot, days, kind) | back | changes


def tells_the_return(swedish, english, by: str, first_line: str, sv: str, en: str) -> None:
    """Both languages say, in text and HTML, that the work was returned on 3 May 2027 by `by`, with its
    comment of two lines (`first_line`, then "Se bilaga 2."), escaped and line by line in HTML."""
    html_comment = f"<td>{escape(first_line)}<br>\nSe bilaga 2.</td>"
    assert "   Att göra:   det har returnerats: rätta och lämna in igen\n" in swedish.text
    assert f"   Varför nu:  returnerades 3 maj 2027 av {by}; {sv}\n" in swedish.text
    assert f"   Kommentar:  {first_line}\n               Se bilaga 2.\n" in swedish.text
    assert f'<th align="left">Varför nu</th><td>returnerades 3 maj 2027 av {by}; {sv}</td>' in swedish.html
    assert html_comment in swedish.html and "<b>" not in swedish.html
    assert "   To do:      it was returned: correct it and submit again\n" in english.text
    assert f"   Why now:    returned on 3 May 2027 by {by}; {en}\n" in english.text
    assert f"   Comment:    {first_line}\n               Se bilaga 2.\n" in english.text
    assert f'<th align="left">Why now</th><td>returned on 3 May 2027 by {by}; {en}</td>' in english.html
    assert html_comment in english.html


@pytest.mark.parametrize("slot, days, sv, en", SLOT_PHRASES)
def test_a_reminder_of_a_returned_input_says_who_returned_it_when_and_with_what_comment(slot, days, sv, en):
    item = returned_input(slot=slot, days=days)
    swedish, english = render(person("sv"), [item]), render(person("en"), [item])
    tells_the_return(swedish, english, "eva", "Lägg till <b>prognosen</b> & LSS", sv, en)


def test_a_reminder_of_a_returned_input_whose_slot_passed_before_the_return_or_a_move_says_what_happened():
    begun = returned_input(days=6, returned_on="2027-05-04", since="2027-05-04", since_event="return")  # slot: 3 May
    assert "   Varför nu:  returnerades 4 maj 2027 av eva\n" in render(person("sv"), [begun]).text
    moved = returned_input(days=5, since="2027-05-04", since_event="deadline")  # moved after the return
    assert ("   Why now:    returned on 3 May 2027 by eva; the deadline was moved to 10 May 2027 on 4 May 2027\n"
            in render(person("en"), [moved]).text)  # fmt: skip


def test_an_escalation_of_a_returned_input_tells_the_owner_of_the_return_and_its_comment():
    item = returned_input("escalation", slot="overdue-3", days=-3)
    swedish, english = render(person("sv"), [item]), render(person("en"), [item])
    assert "   Att göra:   underlaget från Socialtjänst är försenat; du äger etappen\n" in swedish.text
    assert "   Varför nu:  returnerades 3 maj 2027 av eva; 3 dagar efter tidsgränsen 10 maj 2027\n" in swedish.text
    assert "   Kommentar:  Lägg till <b>prognosen</b> & LSS\n" in swedish.text
    assert "   To do:      the input from Socialtjänst is overdue; you own the stage\n" in english.text
    assert "<td>returned on 3 May 2027 by eva; 3 days after the deadline 10 May 2027</td>" in english.html
    assert "<td>Lägg till &lt;b&gt;prognosen&lt;/b&gt; &amp; LSS<br>\nSe bilaga 2.</td>" in english.html


def test_a_returned_notice_and_the_later_reminder_of_the_same_input_are_one_item_told_once():
    notice = payload("returned", key_date="2027-05-03", actor="eva", comment="Lägg till <b>prognosen</b> & LSS")
    done = render(person("sv"), [notice, returned_input(comment="Lägg till <b>prognosen</b> & LSS")])
    assert done.text.count("returnerades 3 maj 2027 av eva") == 1 and done.text.count("Kommentar:") == 1
    assert "   Varför nu:  returnerades 3 maj 2027 av eva; 7 dagar före tidsgränsen 10 maj 2027\n" in done.text


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("locale", ["sv", "en"])
def test_a_digest_of_work_not_returned_reads_the_same_with_the_return_fields_planned_empty(kind, locale):
    item = payload(kind)
    assert render(person(locale), [item]) == render(person(locale), [item | {"returned_on": None, "returned_by": None}])


@pytest.mark.parametrize("locale", ["sv", "en"])
def test_a_comment_of_several_lines_keeps_its_lines_in_the_html_part_escaped(locale):
    comment = "Lägg till <elevprognosen> & LSS\nSe bilaga 2."
    done = render(person(locale), [payload("returned", comment=comment)])
    assert "<td>Lägg till &lt;elevprognosen&gt; &amp; LSS<br>\nSe bilaga 2.</td>" in done.html
    assert "Lägg till <elevprognosen> & LSS\n" in done.text


def returned_stage(slot: str = "before-7", days: int = 7, **changes) -> dict:
    """A reminder to finish a stage its deciding unit returned, planned days after the return (no notice of it)."""
    stage = {"input": None, "input_name": None, "unit": None, "unit_name": "Kommunstyrelsen",
             "item_key": "finish:ange-2027/tertialrapport", "command": "arshjul stage submit ange-2027 tertialrapport",
             "returned_on": "2027-05-03", "returned_by": "bengt",
             "comment": "Komplettera <b>prognosen</b> & LSS\nSe bilaga 2."}  # fmt: skip
    return slotted(slot, days, "finish") | stage | changes


@pytest.mark.parametrize("slot, days, sv, en", SLOT_PHRASES)
def test_a_reminder_to_finish_a_returned_stage_says_who_returned_it_when_and_with_what_comment(slot, days, sv, en):
    item = returned_stage(slot=slot, days=days)
    swedish, english = render(person("sv"), [item]), render(person("en"), [item])
    assert "1. Tertialrapport per 30 april\n" in swedish.text and "skicka in etappen" not in swedish.text
    tells_the_return(swedish, english, "bengt", "Komplettera <b>prognosen</b> & LSS", sv, en)


def test_a_returned_stages_notice_and_the_reminder_to_finish_it_are_one_item_told_once():
    notice = returned_stage() | {"kind": "returned", "slot": "event-42", "slot_kind": "event", "slot_days": 0,
                                 "item_key": "returned:ange-2027/tertialrapport", "key_date": "2027-05-03",
                                 "actor": "bengt", "returned_on": None, "returned_by": None}  # fmt: skip
    done = render(person("sv"), [notice, returned_stage()])
    assert "En sak i årshjulet väntar på dig" in done.text
    assert done.text.count("returnerades 3 maj 2027 av bengt") == 1 and done.text.count("Kommentar:") == 1
    assert "   Varför nu:  returnerades 3 maj 2027 av bengt; 7 dagar före tidsgränsen 10 maj 2027\n" in done.text
    alone = render(person("en"), [notice])  # the notice the day it was returned, before any reminder
    assert "   Why now:    returned on 3 May 2027 by bengt\n" in alone.text
    assert "   Comment:    Komplettera <b>prognosen</b> & LSS\n" in alone.text
