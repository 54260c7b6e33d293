"""Which reminders are due at a moment: pure functions of the agenda and the time.

Who is reminded of what, following the states of the contract:
- contributors of an input's unit, while the input is `missing` or `returned` in an
  `open` stage (kind `submit`);
- approvers of the input's `approved_by` unit while it is `submitted`, and of the
  stage's `decided_by` unit while the stage is `submitted`, never the person who
  submitted it, who may not decide it (kind `decide`);
- owners of the stage's `owner` unit while it is `open` (kind `finish`);
- the stage's owners again when an input is `escalate_after_days` overdue (`escalation`), but
  not an owner whose own turn it is to act on the input (an approver or contributor too),
  who is reminded to act on it already;
- contributors when their stage opens and when their input is returned, and owners
  when their stage is returned (`opened`, `returned`: event notices, one per `open` entry and
  one per returned input or stage, by its newest return in the window: "returned again").
A reminder of an input that is `returned` (`submit`, `escalation`), or to finish a stage
its deciding unit returned (`finish`), tells of the return that left it so, however long
ago: when, by whom and the comment (`returned_on`, `returned_by`, `comment`), and its
reason says so.

Slots: each of `before_days` (`before-7`), the deadline day (`deadline`), then every
`overdue_every_days` after it (`overdue-3`, `overdue-6`, …), all in calendar days in
the cycle's time zone. A slot is due from 07:00 local time on its day. Only the
latest due slot of each item is planned, so after downtime one reminder goes out, not
a burst of every missed slot; the outbox's UNIQUE key makes sure it goes out once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shlex
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from cycle.agenda import Agenda, Happened, Recipient, Work
from cycle.clock import local_date, zone
from workflows.definition import ReminderPolicy

DUE_FROM = dt.time(7, 0)  # local time from which a slot's day counts as reached
KINDS = ("submit", "decide", "finish", "escalation", "opened", "returned")
NOTICES = ("opened", "returned")


@dataclass(frozen=True)
class Slot:
    name: str  # before-7, deadline, overdue-3, event-42
    day: dt.date


@dataclass(frozen=True)
class Due:
    """One planned reminder or notice for one recipient."""

    to: Recipient
    kind: str
    item_key: str  # with slot and key_date (and the recipient) the outbox's UNIQUE key
    slot: str
    key_date: dt.date  # the deadline; for an event notice the date of the event
    cycle: str
    stage: str
    stage_name: str
    deadline: dt.date
    days: int  # deadline minus today's local date: negative when overdue
    reason: str
    command: str
    unit_name: str
    input: str | None = None
    input_name: str | None = None
    unit: str | None = None
    cycle_name: str = ""
    actor: str | None = None
    comment: str | None = None  # a notice's; for a reminder of returned work (`returned_on`), the return's
    inputs: tuple[str, ...] = ()  # for `opened`: the names of the inputs now expected
    input_keys: tuple[str, ...] = ()  # for `opened`: their keys, in the same order
    since: str | None = None  # the local date the work began to wait for them, or its deadline moved (`Work.since`)
    since_event: str | None = None  # open, submit, return or deadline: what happened then
    returns: int = 0  # for `returned`: how many returns of the work the notice window holds, this the newest
    state: str | None = None  # the work's state when planned: an escalated input `submitted` waits for approval
    returned_on: str | None = None  # a reminder of a returned input or stage: the local date of the return that
    returned_by: str | None = None  # left it so, and who returned it (with `comment`, theirs)

    def sort_key(self) -> tuple:
        return (self.to.username, self.cycle, self.deadline, self.stage, self.input or "", self.unit or "",
                KINDS.index(self.kind), self.slot, self.item_key)  # fmt: skip

    def as_plan(self) -> dict:
        """The contract's `reminders plan` row, plus slot, email, locale and command."""
        return {
            "to": self.to.username, "cycle": self.cycle, "stage": self.stage, "input": self.input,
            "unit": self.unit, "kind": self.kind, "deadline": self.deadline.isoformat(), "reason": self.reason,
            "slot": self.slot, "email": self.to.email, "locale": self.to.locale, "command": self.command,
        }  # fmt: skip

    def payload(self) -> dict:
        """What the outbox keeps of the item and the templates render: plain JSON values."""
        data = dataclasses.asdict(self)
        data["to"] = self.to.username
        for name in ("deadline", "key_date"):
            data[name] = data[name].isoformat()
        data["inputs"], data["input_keys"] = list(self.inputs), list(self.input_keys)
        kind, _, number = self.slot.partition("-")
        data["slot_kind"], data["slot_days"] = kind, int(number or 0)
        return data


def plan(agenda: Agenda, at: dt.datetime) -> list[Due]:
    """Every reminder and notice due at `at` (aware), one per item and recipient, sorted."""
    found = [due for work in agenda.work for due in _for_work(agenda, work, at)]
    found += [due for event, returns in _notices(agenda) for due in _for_event(agenda, event, at, returns)]
    unique = {(d.to.username, d.item_key, d.slot, d.key_date): d for d in found}
    return sorted(unique.values(), key=Due.sort_key)


def standing(agenda: Agenda, at: dt.datetime, items: Iterable[dict]) -> list[dict]:
    """The queued items (`Due.payload()` dicts) that still wait for their recipient at `at`, brought up to date.

    An item stands while `plan` would remind the same person of the same work, of the same
    kind, with the same deadline (a moved deadline starts a fresh series), whichever of its
    slots has been reached by now; an event notice, while `plan` would still tell of its event.
    What time changes is renewed: the days left, the work's state, the inputs an `opened` notice asks for, and the
    return a reminder tells of (the input may have been returned, or returned again, while the item waited).
    """
    now = {_standing_key(d.to.username, d.item_key, d.key_date.isoformat(), d.slot): d for d in _waiting(agenda, at)}
    kept = []
    for item in items:
        due = now.get(series(item))
        if due is not None:
            kept.append(item | {"days": due.days, "state": due.state, "inputs": list(due.inputs),
                                "input_keys": list(due.input_keys)} | _return_renewed(item, due))  # fmt: skip
    return kept


def _return_renewed(item: dict, due: Due) -> dict:
    """The return `due` tells of, where `item` tells of another (or none); {} where they agree, so an item queued
    before these were kept, about work that is not returned, stays as it is."""
    now = {"returned_on": due.returned_on, "returned_by": due.returned_by}
    if item["kind"] not in NOTICES:
        now["comment"] = due.comment
    return {key: value for key, value in now.items() if item.get(key) != value}


def _waiting(agenda: Agenda, at: dt.datetime) -> Iterator[Due]:
    """`plan`'s items whatever the slots: everything that waits for somebody at `at`."""
    for work in agenda.work:
        if _responsible(work) is None:
            continue
        anytime = Slot("standing", work.deadline)  # only the key and the days of these are read
        yield from _turn(agenda, work, at, anytime, "")
        if work.is_input:
            reminded = latest_slot(work.deadline, policy(work.reminders), reached_day(at, work.timezone)) is not None
            yield from _escalation(agenda, work, at, anytime, "", reminded)
    yield from (due for event, returns in _notices(agenda) for due in _for_event(agenda, event, at, returns))


def series(item: dict) -> tuple:
    """What a queued item (a `Due.payload()`, or just its to, item_key, key_date and slot) reminds of, whatever
    its slot: two items of one series are the same reminder, the later slot superseding the earlier."""
    return _standing_key(item["to"], item["item_key"], item["key_date"], item["slot"])


def _standing_key(to: str, item: str, key_date: str, slot: str) -> tuple:
    """The outbox's key without a reminder's slot, which moves on while the work waits; an event's slot is its event."""
    return (to, item, key_date, slot if slot.startswith("event-") else "")


# --- slots -----------------------------------------------------------------------


def policy(data: dict) -> ReminderPolicy:
    """A row's merged policy (JSON); keys it lacks take the definition's defaults."""
    known = {f.name for f in dataclasses.fields(ReminderPolicy)}
    values = {k: v for k, v in (data or {}).items() if k in known}
    if "before_days" in values:
        values["before_days"] = tuple(values["before_days"])
    return ReminderPolicy(**values)


def reached_day(at: dt.datetime, tz_name: str) -> dt.date:
    """The latest local day whose slots are due at `at`: today from 07:00, else yesterday."""
    local = at.astimezone(zone(tz_name))
    return local.date() if local.time() >= DUE_FROM else local.date() - dt.timedelta(days=1)


def latest_slot(deadline: dt.date, rules: ReminderPolicy, day: dt.date) -> Slot | None:
    """The latest slot of the series that falls on or before `day`, if any."""
    late = (day - deadline).days
    every = rules.overdue_every_days
    if every and late >= every:
        n = late // every * every
        return Slot(f"overdue-{n}", deadline + dt.timedelta(days=n))
    if rules.on_deadline and late >= 0:
        return Slot("deadline", deadline)
    leads = [n for n in rules.before_days if -late <= n]
    if leads:
        n = min(leads)
        return Slot(f"before-{n}", deadline - dt.timedelta(days=n))
    return None


def escalation_slot(deadline: dt.date, rules: ReminderPolicy, day: dt.date) -> Slot | None:
    """From `escalate_after_days` overdue on, repeated every `overdue_every_days`."""
    after, every = rules.escalate_after_days, rules.overdue_every_days
    late = (day - deadline).days
    if after is None or late < after:
        return None
    n = after + ((late - after) // every * every if every else 0)
    return Slot(f"overdue-{n}", deadline + dt.timedelta(days=n))


def describe(slot: Slot, deadline: dt.date) -> str:
    """The one-line reason: `7 days before the deadline 2027-03-31`."""
    kind, _, number = slot.name.partition("-")
    if kind == "deadline":
        return f"on the deadline {deadline.isoformat()}"
    days = f"{number} day{'' if number == '1' else 's'}"
    where = "before" if kind == "before" else "after"
    return f"{days} {where} the deadline {deadline.isoformat()}"


# --- reminders of open work --------------------------------------------------------


def _for_work(agenda: Agenda, work: Work, at: dt.datetime) -> Iterator[Due]:
    if _responsible(work) is None:
        return
    rules = policy(work.reminders)
    day = reached_day(at, work.timezone)
    slot = latest_slot(work.deadline, rules, day)
    if slot is not None:
        yield from _turn(agenda, work, at, slot, describe(slot, work.deadline) + _returned(work))
    escalated = escalation_slot(work.deadline, rules, day) if work.is_input else None
    if escalated is not None:
        reason = f"{describe(escalated, work.deadline)}, still {work.state}: the stage's owners are told"
        yield from _escalation(agenda, work, at, escalated, reason + _returned(work), reminded=slot is not None)


def _returned(work: Work) -> str:
    """What a reminder's reason adds for returned work: `; returned on 2027-03-21 by eva: "Fel i tabell 3"`."""
    if work.returned_at is None:
        return ""
    on = local_date(work.returned_at, work.timezone).isoformat()
    return f'; returned on {on} by {work.returned_by}: "{work.return_comment or ""}"'


def _turn(agenda: Agenda, work: Work, at: dt.datetime, slot: Slot, reason: str) -> Iterator[Due]:
    """The people whose turn it is to act on `work` (it must be waiting), reminded at `slot`."""
    kind = (_responsible(work) or ("", "", ""))[2]
    for person in _acting(agenda, work):
        yield _due(agenda, work, at, person, kind, slot, reason)


def _acting(agenda: Agenda, work: Work) -> tuple[Recipient, ...]:
    role, unit, kind = _responsible(work) or ("", "", "")
    return _people(agenda, role, unit, but=work.submitted_by if kind == "decide" else None)


def _escalation(agenda: Agenda, work: Work, at: dt.datetime, slot: Slot, reason: str,
                reminded: bool) -> Iterator[Due]:  # fmt: skip
    """The stage's owners told of overdue work; but an owner whose turn it is to act on it, and who is `reminded`
    to by the work's own series now, is told once, by that reminder, not of the same input twice."""
    acting = {p.username for p in _acting(agenda, work)} if reminded else set()
    for person in _people(agenda, "owner", work.owner_unit):
        if person.username not in acting:
            yield _due(agenda, work, at, person, "escalation", slot, reason)


def _responsible(work: Work) -> tuple[str, str, str] | None:
    """(role, unit, kind) of the people whose turn it is; None for pending or finished work."""
    if work.is_input:
        if work.stage_state != "open":
            return None
        if work.state == "submitted":
            return "approver", work.approved_by_unit or "", "decide"
        return ("contributor", work.unit or "", "submit") if work.state in ("missing", "returned") else None
    if work.state == "submitted":
        return "approver", work.decided_by_unit, "decide"
    return ("owner", work.owner_unit, "finish") if work.state == "open" else None


def _people(agenda: Agenda, role: str, unit: str, but: str | None = None) -> tuple[Recipient, ...]:
    return tuple(p for p in agenda.holders.get((role, unit), ()) if p.username != but)


def _due(agenda: Agenda, work: Work, at: dt.datetime, person: Recipient, kind: str, slot: Slot, reason: str) -> Due:
    return Due(
        to=person, kind=kind, item_key=item_key(kind, work), slot=slot.name, key_date=work.deadline,
        cycle=work.cycle, cycle_name=work.cycle_name, stage=work.stage, stage_name=work.stage_name,
        input=work.input, input_name=work.input_name, unit=work.unit, unit_name=_unit_name(agenda, work, kind),
        deadline=work.deadline, days=(work.deadline - _today(at, work)).days, reason=reason,
        command=command(kind, work), since=_since(work), since_event=work.since_event, state=work.state,
        **_return_told(work, kind),
    )  # fmt: skip


def _return_told(work: Work, kind: str) -> dict:
    """A reminder of a returned input (to resubmit it, or to its stage's owners) or of a returned stage (to its
    owners, to finish it) tells of the return; notices do not: a `returned` notice is the return itself."""
    if work.returned_at is None or kind not in ("submit", "escalation", "finish"):
        return {}
    return {"returned_on": local_date(work.returned_at, work.timezone).isoformat(), "returned_by": work.returned_by,
            "comment": work.return_comment}  # fmt: skip


def _since(work: Work) -> str | None:
    return None if work.since is None else local_date(work.since, work.timezone).isoformat()


def item_key(kind: str, work: Work, unit: str | None = None) -> str:
    """`submit:ange-2027/tertialrapport/ekonomi@soc`: what the reminder is about, readable."""
    target = f"{work.cycle}/{work.stage}"
    if work.is_input and kind != "opened":
        return f"{kind}:{target}/{work.input}@{work.unit}"
    return f"{kind}:{target}@{unit}" if unit else f"{kind}:{target}"


def command(kind: str, work: Work) -> str:
    """The exact `arshjul` command that acts on the item."""
    c, s = shlex.quote(work.cycle), shlex.quote(work.stage)
    if kind in ("escalation", "opened"):
        return f"arshjul status {c}"
    if work.is_input:
        verb = "approve" if kind == "decide" else "submit"
        return f"arshjul input {verb} {c} {s} {shlex.quote(work.input or '')} --unit {shlex.quote(work.unit or '')}"
    verb = "approve" if kind == "decide" else "submit"
    return f"arshjul stage {verb} {c} {s}"


def _unit_name(agenda: Agenda, work: Work, kind: str) -> str:
    if work.is_input:
        key = work.unit or ""
    else:
        key = work.decided_by_unit if kind == "decide" else work.owner_unit
    return agenda.units.get(key, key)


def _today(at: dt.datetime, work: Work) -> dt.date:
    return at.astimezone(zone(work.timezone)).date()


# --- event notices -----------------------------------------------------------------


def _notices(agenda: Agenda) -> Iterator[tuple[Happened, int]]:
    """The events to tell of, each with the number of returns of its work in the window: one notice a piece of
    work, so an input returned twice is told of once, by its newest return (with its comment)."""
    returns: dict[tuple, list[Happened]] = {}
    for event in agenda.events:
        if event.event == "open":
            yield event, 0
        else:
            first = event.work[0]
            returns.setdefault((first.cycle, first.stage, first.input, first.unit), []).append(event)
    for same in returns.values():
        yield max(same, key=lambda e: e.seq), len(same)


def _for_event(agenda: Agenda, event: Happened, at: dt.datetime, returns: int) -> Iterator[Due]:
    first = event.work[0]
    when = event.at.astimezone(zone(first.timezone)).date()
    slot = Slot(f"event-{event.seq}", when)
    if event.event == "open":
        yield from _opened(agenda, event, at, slot)
        return
    role, unit = ("contributor", first.unit or "") if first.is_input else ("owner", first.owner_unit)
    reason = f"returned {'again ' if returns > 1 else ''}on {when.isoformat()} by {event.actor}"
    for person in _people(agenda, role, unit):
        base = _due(agenda, first, at, person, "submit" if first.is_input else "finish", slot, reason)
        yield dataclasses.replace(base, kind="returned", item_key=item_key("returned", first), key_date=when,
                                  actor=event.actor, comment=event.comment, returns=returns, returned_on=None,
                                  returned_by=None)  # fmt: skip


def _opened(agenda: Agenda, event: Happened, at: dt.datetime, slot: Slot) -> Iterator[Due]:
    """One notice per unit that has inputs in the stage, to that unit's contributors."""
    units: dict[str, list[Work]] = {}
    for work in event.work:
        units.setdefault(work.unit or "", []).append(work)
    reason = f"the stage opened on {slot.day.isoformat()}"
    for unit, inputs in units.items():
        first = min(inputs, key=lambda w: (w.deadline, w.input or ""))
        stage_level = dataclasses.replace(first, input=None, input_name=None, unit=unit)
        for person in _people(agenda, "contributor", unit):
            base = _due(agenda, stage_level, at, person, "opened", slot, reason)
            yield dataclasses.replace(base, item_key=item_key("opened", first, unit), key_date=slot.day,
                                      unit_name=agenda.units.get(unit, unit), actor=event.actor,
                                      inputs=tuple(w.input_name or w.input or "" for w in inputs),
                                      input_keys=tuple(w.input or "" for w in inputs))  # fmt: skip
