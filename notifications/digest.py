"""A queued digest brought up to date just before it is sent.

A digest is rendered when it is enqueued and may go out much later: a relay answering 4xx
is retried for about a day, and one that cannot be reached is waited for up to
`outbox.GIVE_UP_AFTER`. Meanwhile its items may have been submitted, decided or returned,
and its "days left" have run on. So each claimed message is checked against the agenda as
it is at the send moment (`planner.standing`, the planner's own rules of who waits for
what): items that no longer wait for the recipient are left out, the rest are rendered
again, with the days counted from now, through the same templates; a reminder that goes out
after its slot's day says so in its "why now" (`render.late`). A digest with nothing left is
withdrawn instead of sent.

A message that waited out a slot of one of its reminders meets a newer message to the same
person carrying that reminder's later slot (`planner.series`): planning enqueued it while
this one waited. The reminder is left out of the older message, whichever of the two is sent
first, so it reaches the person once, saying why now as of the later slot. A message still
queued or already sent counts as newer; a failed one does not.

An unchanged digest (one sent soon after it was enqueued) goes out as the bytes stored. A
re-rendered one keeps its Message-ID, which names the digest (a relay or another node may
have seen it), and is dated when it was rendered, the moment its days are counted from.

One agenda read (`Snapshot`) serves a delivery run: a later batch reads again only if it
needs older notices or other stages than the read covered.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

from cycle import agenda
from cycle.database import Database
from notifications import outbox, planner
from notifications.mail import Letter
from notifications.render import entries, render


@dataclass(frozen=True)
class Snapshot:
    """The agenda at `at`, the queued items of the messages it was read for, and what newer messages carry."""

    at: dt.datetime
    since: dt.datetime  # notices read from here on
    stages: frozenset[tuple[str, str]]
    agenda: agenda.Agenda
    items: dict[int, list[dict]]  # outbox id -> its items' payloads
    newer: dict[int, frozenset[tuple]] = dataclasses.field(default_factory=dict)  # outbox id -> series superseding

    def covers(self, since: dt.datetime, stages: frozenset[tuple[str, str]]) -> bool:
        return self.since <= since and stages <= self.stages


@dataclass(frozen=True)
class Revised:
    """What to do with a claimed message: send `letter` (with `items` items, as its reader counts them:
    `render.entries`), or withdraw it for `why`."""

    letter: Letter | None
    items: int
    changed: bool = False
    why: str = ""


def read(db: Database, batch: list[outbox.Claimed], last: Snapshot | None = None) -> Snapshot:
    """The agenda and queued items for `batch`; `last`'s agenda again if it covers what the batch needs."""
    with db.read() as session:
        items = outbox.payloads(session, [c.id for c in batch])
        newer = {i: frozenset(map(planner.series, later)) for i, later in outbox.later(session, batch).items()}
        now = last.at if last is not None else db.clock.now()
        since, stages = _notices_since(items, now), _stages(items)
        if last is not None and last.covers(since, stages):
            return dataclasses.replace(last, items=items, newer=newer)
        if last is not None:  # read once more, for what both need, so later batches may share it
            now, since, stages = db.clock.now(), min(since, last.since), stages | last.stages
        found = agenda.read(session, since=since, until=now, stages=stages)
    return Snapshot(now, since, stages, found, items, newer)


def revise(claimed: outbox.Claimed, snapshot: Snapshot) -> Revised:
    """`claimed` as it should go out at the snapshot's moment."""
    queued = snapshot.items.get(claimed.id, [])
    if not queued:  # nothing to judge it by: sent as it was stored
        return Revised(claimed.letter, claimed.items)
    newer = snapshot.newer.get(claimed.id, frozenset())
    own = [item for item in queued if planner.series(item) not in newer]
    kept = planner.standing(snapshot.agenda, snapshot.at, own)
    if not kept:
        return Revised(None, 0, why=_nothing_left(claimed, len(queued), len(queued) - len(own)))
    items = len(entries(kept))
    if kept == queued:
        return Revised(claimed.letter, items)
    recipient = {"username": claimed.recipient, "name": claimed.letter.to_name, "locale": claimed.locale}
    rendered = render(recipient, kept)
    letter = dataclasses.replace(claimed.letter, subject=rendered.subject, text=rendered.text, html=rendered.html,
                                 date=snapshot.at)  # fmt: skip
    return Revised(letter, items, changed=True)


def _nothing_left(claimed: outbox.Claimed, queued: int, superseded: int) -> str:
    done = queued - superseded
    if not superseded:
        items = "its item was" if done == 1 else f"its {done} items were"
        return f"nothing in it waits for {claimed.recipient} any more ({items} done meanwhile, or given a new deadline)"
    why = f"superseded by a newer reminder to {claimed.recipient}"
    if not done:
        return why
    others = "its other item was" if done == 1 else f"its other {done} items were"
    return f"{why} ({others} done meanwhile, or given a new deadline)"


def _notices_since(items: dict[int, list[dict]], now: dt.datetime) -> dt.datetime:
    """From the day before the oldest event a queued notice tells of (no time zone is a day ahead of UTC)."""
    days = [dt.date.fromisoformat(i["key_date"]) for group in items.values() for i in group
            if i["slot"].startswith("event-")]  # fmt: skip
    if not days:
        return now
    return min(dt.datetime.combine(min(days) - dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC), now)


def _stages(items: dict[int, list[dict]]) -> frozenset[tuple[str, str]]:
    """The stages the items are about: their waiting inputs are read whatever their dates."""
    return frozenset((i["cycle"], i["stage"]) for group in items.values() for i in group)
