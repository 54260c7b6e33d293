"""Rendering a digest from the files in `notifications/templates/`: subject, text and HTML.

The recipient's `locale` picks the language (`sv`, the default, or `en`). Two jinja2
environments share the files: the HTML one escapes every value (names, comments and
stage names are typed by people), the plain-text one does not, since escaping there
would only garble the text. Undefined variables are errors (`StrictUndefined`), so a
template and its context cannot drift apart silently.

The context every digest template gets:
- `recipient`: `{username, name, locale}`;
- `items`: the digest's entries (`entries`: a notice and the reminder of the same work are one),
  most urgent first, each `notifications.planner.Due.payload()`:
  `kind, cycle, cycle_name, stage, stage_name, input, input_name, unit, unit_name,
  deadline, days, slot, slot_kind, slot_days, key_date, reason, command, actor,
  comment, inputs, item_key, to`, (from items queued since they exist) `since, since_event`,
  `input_keys` and `state` (the work's state: an escalated input `submitted` waits for approval),
  `returned_on, returned_by` (a reminder of an input that is returned, or to finish a stage that was
  returned: the return that left it so, whose comment is `comment`; None otherwise), and `notice`: None, or the
  `{kind, key_date, actor, comment, returns}` of what happened that a reminder tells with: the notice
  of its work in the same digest, else, for a returned input or stage, its return (`returns` None); a
  `returned` notice also has `returns`, the number of returns of its work it stands for (more than 1:
  it was returned again);
- `count`: the number of entries.
The filter `longdate(value, locale)` writes an ISO date as `31 mars 2027` or `31 March 2027`,
`meeting` gives the meeting date of a per-meeting stage's key (`…@2027-03-02`), else '';
the test `item is late` tells a reminder going out after its slot's day (see `late`),
`item is early` one going out before it (see `early`), and `item is begun` one whose slot's
day passed before the work began to wait for its reader (see `begun`).
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cycle.clock import MONTHS
from notifications.planner import NOTICES

if TYPE_CHECKING:
    import jinja2

TEMPLATES = Path(__file__).parent / "templates"
LOCALES = ("sv", "en")
DEFAULT_LOCALE = "sv"


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def long_date(value: str | dt.date, locale: str = DEFAULT_LOCALE) -> str:
    """`31 mars 2027`: written out here, not by the C locale, which may not have Swedish."""
    day = dt.date.fromisoformat(value) if isinstance(value, str) else value
    return f"{day.day} {MONTHS[language(locale)][day.month - 1]} {day.year}"


def late(item: dict) -> bool:
    """Whether a reminder goes out after its slot's day, so "why now" cannot name the slot as today's.

    A slot's day leaves a known number of days to the deadline (`before-7`: 7, `deadline`: 0,
    `overdue-3`: -3); an item counted fewer (a digest held up by the relay, brought up to
    date when it finally goes out) is late. Event notices have no such day and never are.
    """
    planned = _planned_days(item)
    return planned is not None and item["days"] < planned and not begun(item)


def begun(item: dict) -> bool:
    """Whether the reminder's slot's day passed before the work began to wait for its reader (the stage opened,
    the input was handed in or returned) or before its deadline was moved: it goes out now because that happened,
    not because it was held up, and "why now" says what happened."""
    planned, since = _planned_days(item), item.get("since")
    if planned is None or not since or not item.get("since_event"):
        return False
    slot_day = dt.date.fromisoformat(item["deadline"]) - dt.timedelta(days=planned)
    return slot_day < dt.date.fromisoformat(since)


def early(item: dict) -> bool:
    """Whether a reminder goes out before its slot's day: `reminders send --at` a later moment, read today.

    Its days are counted from the day it is read, so they are more than its slot leaves.
    """
    planned = _planned_days(item)
    return planned is not None and item["days"] > planned


def _planned_days(item: dict) -> int | None:
    """The days to the deadline on the slot's day; None for an event notice."""
    return {"before": item["slot_days"], "deadline": 0, "overdue": -item["slot_days"]}.get(item["slot_kind"])


def meeting(stage: str) -> str:
    """The meeting a per-meeting stage instance is for (`ks-ekonomirapport@2027-03-02`: `2027-03-02`), else ''."""
    _, at, day = stage.rpartition("@")
    try:
        return dt.date.fromisoformat(day).isoformat() if at else ""
    except ValueError:
        return ""


def language(locale: str | None) -> str:
    return locale if locale in LOCALES else DEFAULT_LOCALE


def html_lines(text: str):
    """Text for HTML: escaped, each line break a `<br>` (mail programs run a bare newline's lines together)."""
    from markupsafe import Markup, escape

    return Markup("<br>\n").join(escape(line) for line in text.splitlines())


def _environment(autoescape: bool) -> jinja2.Environment:
    import jinja2  # only where messages are built: `entries` is read where digests are counted

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["longdate"] = long_date
    env.filters["meeting"] = meeting
    env.filters["lines"] = html_lines
    env.tests["late"] = late
    env.tests["early"] = early
    env.tests["begun"] = begun
    return env


@functools.cache
def _environments() -> tuple[jinja2.Environment, jinja2.Environment]:
    return _environment(autoescape=False), _environment(autoescape=True)


def urgency(item: dict) -> tuple:
    """Digest order: most overdue or nearest deadline first, then by what it is."""
    return (item["days"], item["cycle"], item["stage"], item["input"] or "", item["unit"] or "", item["item_key"])


ACTS = ("submit", "finish")  # the reminders a notice may tell with
TOLD = ("kind", "key_date", "actor", "comment", "returns")  # what of a notice a reminder tells it with


def entries(items: list[dict]) -> list[dict]:
    """The digest's entries: each of `items` once, with `notice` None, except that the reader is told of each
    piece of work once.

    A notice of what happened to work (its stage `opened`, it was `returned`) and the reminder to act on that
    work (`submit`, `finish`) in the same digest are one entry: the reminder, whose `notice` holds the notice's
    `kind, key_date, actor, comment` (and whose `comment` is the notice's). An `opened` notice then asks only for
    the inputs no reminder in the digest is about, and is left out when none is left. Several returns of the same
    work are told once, by the newest (its comment), with `returns` the number of them (more than 1: "again").
    A reminder about a returned input or stage (`returned_on`) without a notice of its return in the digest (sent
    days after the return) tells of that return the same way, so it reads as one that came with the notice; it does
    so rather than tell of its stage's opening, which it still stands for in an `opened` notice.
    All stay in the outbox as they are: this is only how they read.
    """
    returned = _newest_returns(items)
    opened = {_stage_unit(i): i for i in items if i["kind"] == "opened"}
    told: dict[tuple, set[int]] = {}  # a notice's (item_key, slot) -> what of it reminders tell: its inputs' places
    found = []
    for item in (i for i in items if i["kind"] not in NOTICES):
        notice, place = _notice_of(item, returned, opened)
        if notice is None:
            found.append(item | {"notice": _return_of(item)})
            continue
        told.setdefault((notice["item_key"], notice["slot"]), set()).add(place)
        if notice["kind"] == "opened" and _return_of(item):  # returned since the stage opened: that is the news
            found.append(item | {"notice": _return_of(item)})
            continue
        told_with = {k: notice.get(k) for k in TOLD}
        found.append(item | {"notice": told_with, "comment": item["comment"] or notice["comment"]})
    for notice in [i for i in items if i["kind"] == "opened"] + list(returned.values()):
        left = _untold(notice, told.get((notice["item_key"], notice["slot"]), set()))
        if left is not None:
            found.append(left | {"notice": None})
    return found


def _newest_returns(items: list[dict]) -> dict[tuple, dict]:
    """The newest `returned` notice of each piece of work, with `returns`: how many returns of it were told of."""
    newest: dict[tuple, dict] = {}
    for item in sorted((i for i in items if i["kind"] == "returned"), key=_event_seq):
        earlier = newest.get(_work(item))
        count = max(item.get("returns") or 1, earlier["returns"] + 1 if earlier else 1)
        newest[_work(item)] = item | {"returns": count}
    return newest


def _notice_of(item: dict, returned: dict[tuple, dict], opened: dict[tuple, dict]) -> tuple[dict | None, int]:
    """The notice `item` tells with, and the place among an `opened` notice's inputs of the input it is about."""
    if item["kind"] not in ACTS:
        return None, 0
    if _work(item) in returned:
        return returned[_work(item)], 0
    notice = opened.get(_stage_unit(item)) if item["kind"] == "submit" else None
    if notice is None:
        return None, 0
    keys = notice.get("input_keys") or []  # items queued before the keys were kept name their inputs only
    listed, wanted = (keys, item["input"]) if keys else (notice["inputs"], item["input_name"])
    return (notice, listed.index(wanted)) if wanted in listed else (None, 0)


def _return_of(item: dict) -> dict | None:
    """What a reminder of a returned input or stage tells of its return, as a notice of it would; None for other
    work."""
    if not item.get("returned_on"):  # also items queued before returns were kept with reminders
        return None
    return {"kind": "returned", "key_date": item["returned_on"], "actor": item["returned_by"],
            "comment": item["comment"], "returns": None}  # fmt: skip


def _untold(notice: dict, told: set[int]) -> dict | None:
    """`notice` without what reminders tell; None when that is all of it."""
    if notice["kind"] == "returned":
        return None if told else notice
    keep = [n for n in range(len(notice["inputs"])) if n not in told]
    if not keep:
        return None
    keys = notice.get("input_keys") or []
    return notice | {"inputs": [notice["inputs"][n] for n in keep], "input_keys": [keys[n] for n in keep if keys]}


def _work(item: dict) -> tuple:
    return item["cycle"], item["stage"], item["input"], item["unit"]


def _stage_unit(item: dict) -> tuple:
    return item["cycle"], item["stage"], item["unit"]


def _event_seq(item: dict) -> int:
    return int(item["slot"].removeprefix("event-") or 0)


def render(recipient: dict, items: list[dict]) -> Rendered:
    """The digest for one recipient; `items` are `Due.payload()` dicts, told as `entries`."""
    lang = language(recipient.get("locale"))
    text_env, html_env = _environments()
    shown = sorted(entries(items), key=urgency)
    context = {"recipient": recipient, "items": shown, "count": len(shown)}
    subject = text_env.get_template(f"digest.{lang}.subject.txt").render(context)
    return Rendered(
        # The subject file ends with a newline like any text file; that one is not part of it.
        subject=subject.removesuffix("\n"),
        text=text_env.get_template(f"digest.{lang}.txt").render(context),
        html=html_env.get_template(f"digest.{lang}.html").render(context),
    )
