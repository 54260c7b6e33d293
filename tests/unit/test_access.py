"""The database's checks (cycle.access) follow the state machines and the contract's roles."""

from __future__ import annotations

import re

from cycle import access
from cycle.machines import INPUT_MACHINE, STAGE_MACHINE, arrows


def test_every_move_of_the_machines_names_the_role_that_may_make_it():
    moves = {("stage", t) for _, t, _ in arrows(STAGE_MACHINE)} | {("input", t) for _, t, _ in arrows(INPUT_MACHINE)}
    assert set(access.WHO) == moves


def test_the_checks_allow_exactly_the_arrows_of_the_machines():
    for kind, machine in (("stage", STAGE_MACHINE), ("input", INPUT_MACHINE)):
        allowed = re.search(r"NOT IN \(VALUES (.*?)\) THEN", access._changed(kind)).group(1)
        assert set(re.findall(r"\('(\w+)', '(\w+)', '(\w+)'\)", allowed)) == arrows(machine)


def test_people_may_change_only_states_deadlines_and_the_chain_head():
    assert access.PEOPLE_UPDATE == {
        "stage": ("state", "version", "deadline"),
        "input": ("state", "version", "deadline", "remind_from"),
        "log_head": ("seq", "hash"),
    }
    assert "transition_log" not in access.PEOPLE_UPDATE
