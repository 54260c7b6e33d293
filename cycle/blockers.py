"""What keeps a stage from moving on, in words a process owner can act on.

Pure functions over loaded rows, shared by the guards (which refuse with these
words) and the status report (which shows them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from cycle.models import InputItem, InputState, Stage, StageState

DONE_STAGE = (StageState.APPROVED.value, StageState.CLOSED.value)
INPUT_WAITS_FOR = {
    InputState.MISSING.value: "contributors",
    InputState.RETURNED.value: "contributors",
    InputState.SUBMITTED.value: "approvers",
}


def unfinished_predecessors(stage: Stage, cycle_stages: Iterable[Stage]) -> list[Stage]:
    """Stages named in `after` (every instance of a per-meeting one) not yet approved or closed."""
    wanted = set(stage.after or ())
    return [s for s in cycle_stages if s.definition_key in wanted and s.state not in DONE_STAGE]


def unapproved_inputs(inputs: Iterable[InputItem]) -> list[InputItem]:
    return [i for i in inputs if i.required and i.state != InputState.APPROVED.value]


def describe_predecessor(stage: Stage) -> str:
    return f"stage '{stage.key}' is {stage.state}"


def describe_input(item: InputItem, people: Mapping[tuple[str, str], list[str]] | None = None) -> str:
    """`input 'ekonomi' from unit 'soc' is missing: its contributors are oskar`."""
    text = f"input '{item.key}' from unit '{item.unit_key}' is {item.state}"
    if people is None:
        return text
    role = INPUT_WAITS_FOR.get(item.state)
    if role is None:
        return text
    unit = item.unit_key if role == "contributors" else item.approved_by_unit
    names = people.get((role[:-1], unit)) or []
    who = ", ".join(names) if names else f"nobody holds that role for '{unit}'"
    return f"{text}: its {role} are {who}" if names else f"{text}: {who}"


def summarise(lines: list[str], limit: int = 5) -> list[str]:
    """At most `limit` lines, then how many more, so a refusal stays readable."""
    if len(lines) <= limit:
        return lines
    return lines[:limit] + [f"… and {len(lines) - limit} more (see `arshjul status`)"]
