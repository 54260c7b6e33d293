"""What can go wrong with a reminder mail, as facts the outbox can act on."""

from __future__ import annotations

from cycle.errors import ArshjulError, BadInput


class UnsafeHeader(BadInput):
    """A value meant for a mail header could change the header's meaning (a line break, an encoded word)."""


class DeliveryFailed(ArshjulError):
    """The mail server (or the mail folder) did not take a message."""

    permanent = False


class TryLater(DeliveryFailed):
    """A 4xx reply, a dropped connection or a timeout: retried with backoff."""


class RelayDown(TryLater):
    """The relay cannot be reached or refuses us (connect, TLS, login): no message will get through now.

    Nothing is wrong with the messages, so they wait without using up their tries (see `outbox`).
    """


class Rejected(DeliveryFailed):
    """A 5xx reply: the message as it is will never be accepted; the row fails."""

    permanent = True
