"""An auditor can tell which files an org load and a cycle start read: the log keeps each
file's name and the SHA-256 of its bytes, the value `sha256sum FILE` prints for a kept copy."""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil

import pytest
import yaml

from cycle import log
from cycle.cycles import start_cycle
from cycle.organisation import load_organisation
from cycle.status import read_log
from tests.conftest import ANGE, ANGE_ORG
from workflows.loader import load_organisation as read_organisation
from workflows.loader import load_workflow, parse_workflow

ADMIN = "nils"


def entry(db, event: str) -> dict:
    (found,) = read_log(db, ADMIN, log.LogFilter(event=event))
    return found


@pytest.fixture
def copies(tmp_path):
    org, wheel = tmp_path / "org 2027.yaml", tmp_path / "årshjul.yaml"
    shutil.copyfile(ANGE_ORG, org)
    shutil.copyfile(ANGE, wheel)
    return org, wheel


def keeps(found: dict, path) -> bool:
    """Whether a log entry names the file at `path` and holds the SHA-256 `sha256sum` prints for it."""
    return (
        found["comment"] == str(path)
        and found["detail"]["file_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    )


def started(db, clock, org, workflow) -> dict:
    """The cycle_start entry of the 2027 cycle of `workflow`, begun after loading `org`."""
    load_organisation(db, ADMIN, read_organisation(org))
    clock.set(dt.datetime(2026, 1, 5, 8, 0, tzinfo=dt.UTC))
    start_cycle(db, ADMIN, workflow, 2027)
    return entry(db, "cycle_start")


def test_the_org_load_entry_keeps_the_sha256_of_the_files_bytes(db, copies):
    org, _ = copies
    load_organisation(db, ADMIN, read_organisation(org))
    assert keeps(entry(db, "org_load"), org)


def test_the_cycle_start_entry_keeps_the_definitions_file_name_and_sha256(db, clock, copies):
    org, wheel = copies
    assert keeps(started(db, clock, org, load_workflow(wheel)), wheel)


def test_a_definition_built_in_memory_claims_no_file(db, clock, copies):
    org, _ = copies
    found = started(db, clock, org, parse_workflow(yaml.safe_load(ANGE.read_text(encoding="utf-8"))))
    assert found["comment"] is None and "file_sha256" not in found["detail"]
