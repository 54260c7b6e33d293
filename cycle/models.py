"""The relational model: organisation, cycles, stage and input instances, the log.

States are stored as lowercase strings of a `str` Enum; every stage and input row
carries a version that each change bumps, so a concurrent writer that read an older
version fails instead of overwriting (SQLAlchemy's `version_id_col`).
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class StageState(str, enum.Enum):
    PENDING = "pending"
    OPEN = "open"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    CLOSED = "closed"


class InputState(str, enum.Enum):
    MISSING = "missing"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    RETURNED = "returned"


class Base(DeclarativeBase):
    pass


class Unit(Base):
    __tablename__ = "unit"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    parent_key: Mapped[str | None] = mapped_column(ForeignKey("unit.key"), nullable=True)


class Person(Base):
    __tablename__ = "person"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    locale: Mapped[str] = mapped_column(String(8), default="sv")

    grants: Mapped[list[RoleGrant]] = relationship(
        back_populates="person", cascade="all, delete-orphan", lazy="selectin"
    )


class RoleGrant(Base):
    __tablename__ = "role_grant"
    __table_args__ = (UniqueConstraint("username", "role", "unit_key", name="uq_role_grant"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(ForeignKey("person.username"))
    role: Mapped[str] = mapped_column(String(32))
    # Empty string, not NULL, for the global roles: NULLs never collide in a UNIQUE key.
    unit_key: Mapped[str] = mapped_column(String(64), default="")

    person: Mapped[Person] = relationship(back_populates="grants")


class Meeting(Base):
    __tablename__ = "meeting"
    __table_args__ = (UniqueConstraint("unit_key", "date", name="uq_meeting"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_key: Mapped[str] = mapped_column(ForeignKey("unit.key"))
    date: Mapped[dt.date] = mapped_column(Date)


class Cycle(Base):
    __tablename__ = "cycle"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String(64))
    year: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    holidays: Mapped[str] = mapped_column(String(8))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime)

    stages: Mapped[list[Stage]] = relationship(back_populates="cycle", order_by="Stage.position", lazy="raise_on_sql")


class Stage(Base):
    __tablename__ = "stage"
    __table_args__ = (
        UniqueConstraint("cycle_id", "key", name="uq_stage_key"),
        Index("ix_stage_state", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cycle_id: Mapped[str] = mapped_column(ForeignKey("cycle.id"))
    key: Mapped[str] = mapped_column(String(120))
    definition_key: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default=StageState.PENDING.value)
    version: Mapped[int] = mapped_column(Integer, default=1)
    owner_unit: Mapped[str] = mapped_column(ForeignKey("unit.key"))
    decided_by_unit: Mapped[str] = mapped_column(ForeignKey("unit.key"))
    after: Mapped[list[str]] = mapped_column(JSON, default=list)
    deadline: Mapped[dt.date] = mapped_column(Date)
    meeting_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    reminders: Mapped[dict] = mapped_column(JSON, default=dict)

    cycle: Mapped[Cycle] = relationship(back_populates="stages")
    inputs: Mapped[list[InputItem]] = relationship(
        back_populates="stage", order_by="(InputItem.position, InputItem.unit_key)", lazy="raise_on_sql"
    )

    __mapper_args__ = {"version_id_col": version}


class InputItem(Base):
    """One input of one unit to one stage instance (table `input`)."""

    __tablename__ = "input"
    __table_args__ = (
        UniqueConstraint("stage_id", "key", "unit_key", name="uq_input_key"),
        Index("ix_input_state_remind", "state", "remind_from"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    stage_id: Mapped[int] = mapped_column(ForeignKey("stage.id"))
    key: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer)
    unit_key: Mapped[str] = mapped_column(ForeignKey("unit.key"))
    approved_by_unit: Mapped[str] = mapped_column(ForeignKey("unit.key"))
    required: Mapped[bool] = mapped_column(Boolean, default=True)
    state: Mapped[str] = mapped_column(String(16), default=InputState.MISSING.value)
    version: Mapped[int] = mapped_column(Integer, default=1)
    deadline: Mapped[dt.date] = mapped_column(Date)
    reminders: Mapped[dict] = mapped_column(JSON, default=dict)
    # The first day a reminder can be due (`cycle.agenda.remind_from`), kept with the deadline.
    remind_from: Mapped[dt.date] = mapped_column(Date)

    stage: Mapped[Stage] = relationship(back_populates="inputs")

    __mapper_args__ = {"version_id_col": version}


class LogEntry(Base):
    """One transition; append-only (database triggers refuse UPDATE and DELETE)."""

    __tablename__ = "transition_log"
    __table_args__ = (
        Index("ix_log_subject", "cycle", "stage", "input", "unit", "seq"),
        Index("ix_log_actor_at", "actor", "at"),
        Index("ix_log_at", "at"),
    )

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime] = mapped_column(DateTime)
    actor: Mapped[str] = mapped_column(String(64))
    cycle: Mapped[str | None] = mapped_column(String(100), nullable=True)
    stage: Mapped[str | None] = mapped_column(String(120), nullable=True)
    input: Mapped[str | None] = mapped_column(String(64), nullable=True)
    unit: Mapped[str | None] = mapped_column(String(64), nullable=True)
    event: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(32), nullable=True)
    to_state: Mapped[str | None] = mapped_column(String(32), nullable=True)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    ref: Mapped[str | None] = mapped_column(String(200), nullable=True)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class LogHead(Base):
    """The single chain-head row: locking it serialises appends across writers."""

    __tablename__ = "log_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    hash: Mapped[str] = mapped_column(String(64))


class OutboxStatus(str, enum.Enum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class OutboxMessage(Base):
    """One rendered mail to one recipient: a digest of the reminder items enqueued together.

    Written by `notifications`; the core only owns the schema. Times are naive UTC,
    like the log's. A sender claims a row by setting `claimed_by` and `lease_until`;
    a row still `sending` after its lease ran out belongs to whoever claims it next.
    """

    __tablename__ = "outbox_message"
    __table_args__ = (
        Index("ix_outbox_status_next", "status", "next_attempt_at"),
        Index("ix_outbox_recipient", "recipient", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # No foreign key to person: the outbox is history and must outlive org changes.
    recipient: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    locale: Mapped[str] = mapped_column(String(8))
    message_id: Mapped[str | None] = mapped_column(String(250), unique=True, nullable=True)
    subject: Mapped[str] = mapped_column(Text, default="")
    body_text: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(120), nullable=True)
    lease_until: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class OutboxItem(Base):
    """One reminder item for one recipient; its UNIQUE key makes enqueueing idempotent.

    For a deadline reminder the key is (recipient, item, slot, deadline), so a moved
    deadline starts a fresh series; for an event notice the slot is `event-<log seq>`
    and the date of the event stands in for the deadline, so the key never changes.
    """

    __tablename__ = "outbox_item"
    __table_args__ = (
        UniqueConstraint("recipient", "item_key", "slot", "deadline", name="uq_outbox_item"),
        Index("ix_outbox_item_outbox", "outbox_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox_message.id"))
    recipient: Mapped[str] = mapped_column(String(64))
    item_key: Mapped[str] = mapped_column(String(400))
    slot: Mapped[str] = mapped_column(String(32))
    deadline: Mapped[dt.date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
