"""Exceptions named after facts; the edge (cli.py) translates them to exit codes.

Exit codes (contract): 1 for refusals by the rules, 2 for bad usage or input,
3 for an altered log.
"""

from __future__ import annotations


class ArshjulError(Exception):
    """Base of every error arshjul reports to a user."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def lines(self) -> list[str]:
        return [self.message] + ([self.hint] if self.hint else [])


class Refused(ArshjulError):
    """The rules forbid the action; the message names what blocks it."""

    exit_code = 1


class WrongState(Refused):
    """The row is not in a state the action starts from."""


class StaleState(Refused):
    """Someone else changed the row between our read and our write."""

    @classmethod
    def moved(cls) -> StaleState:
        return cls(
            "the state has moved: someone else changed it at the same moment",
            "check `arshjul status` and try again if it still applies",
        )


class UnknownPerson(Refused):
    """The acting person is not registered."""


class MissingRole(Refused):
    """The acting person lacks the role the action needs."""


class FourEyes(Refused):
    """The approver is the person who submitted."""


class BadInput(ArshjulError):
    """Bad usage or input: nothing was written."""

    exit_code = 2


class NotFound(BadInput):
    """A named cycle, stage, input, unit or person does not exist."""


class InvalidDefinition(BadInput):
    """A workflow or organisation file has problems; all are listed."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = list(problems)
        first = f"{source}: {len(self.problems)} problem(s)"
        super().__init__(first)

    def lines(self) -> list[str]:
        return [f"{self.source}: {p}" for p in self.problems]


class SchemaMissing(BadInput):
    """The database has no arshjul schema yet, or an older one."""


class LogAltered(ArshjulError):
    """Verification found the transition log altered."""

    exit_code = 3
