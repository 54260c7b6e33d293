"""Every command and option has help, `--help` works everywhere, the docs match, startup is light."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from cli import DEFAULT_DB, arshjul
from tests.cli.conftest import clean_env
from tests.conftest import ROOT


def all_commands(command: click.Command = arshjul, path: tuple[str, ...] = ()):
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from all_commands(sub, (*path, name))


COMMANDS = list(all_commands())
CONTRACT = [
    "init", "org load", "workflow check", "workflow show", "cycle start", "cycle list", "status",
    "stage open", "stage submit", "stage approve", "stage return", "stage close",
    "input submit", "input approve", "input return", "deadline set", "log", "audit verify",
    "audit checkpoint", "reminders plan", "reminders send", "reminders list", "scheduler run", "demo",
]  # fmt: skip


def test_every_command_of_the_contract_exists():
    assert set(CONTRACT) <= {" ".join(path) for path, _ in COMMANDS}


@pytest.mark.parametrize("path, command", COMMANDS, ids=lambda v: " ".join(v) if isinstance(v, tuple) else "")
def test_every_command_and_option_has_help(path, command):
    assert (command.help or "").strip(), f"arshjul {' '.join(path)} has no help"
    for param in command.params:
        if isinstance(param, click.Option):
            assert (param.help or "").strip(), f"arshjul {' '.join(path)} {param.opts[0]} has no help"


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=" ".join)
def test_help_works_on_every_command_without_a_database_or_a_person(path, tmp_path):
    # A database that does not exist and a person nobody knows: help needs neither.
    env = clean_env(ARSHJUL_DB=f"sqlite:///{tmp_path / 'nothing.db'}", ARSHJUL_USER="nobody")
    result = CliRunner(env=env).invoke(arshjul, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Usage: arshjul")
    assert not (tmp_path / "nothing.db").exists()


def test_the_query_commands_share_the_output_options():
    queries = {"cycle list", "status", "log", "reminders plan", "reminders list", "audit verify"}
    for path, command in COMMANDS:
        if " ".join(path) in queries:
            formats = {p.name: p for p in command.params}["fmt"].type.choices
            assert {"table", "json", "csv"} <= set(formats)
    assert "ndjson" in {p.name: p for p in arshjul.commands["log"].params}["fmt"].type.choices


def test_the_default_database_is_the_cores():
    from cycle.database import DEFAULT_URL

    assert DEFAULT_DB == DEFAULT_URL


def test_docs_cli_md_matches_the_help_texts():
    spec = importlib.util.spec_from_file_location("gen_cli", ROOT / "docs" / "gen_cli.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    current = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert current == gen.generate(), "docs/cli.md is out of date: run python docs/gen_cli.py"


HEAVY = ("apscheduler", "jinja2", "smtplib", "notifications", "sqlalchemy", "alembic", "holidays", "transitions")
PROBE = """
import json, sys
from click.testing import CliRunner
import cli
CliRunner().invoke(cli.arshjul, ["--help"])
CliRunner().invoke(cli.arshjul, ["reminders", "send", "--help"])
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r})))
"""


def test_help_does_not_import_the_heavy_parts():
    probe = PROBE.format(heavy=set(HEAVY))
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=clean_env(), check=True)
    assert json.loads(proc.stdout) == []
