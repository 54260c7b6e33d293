"""`arshjul demo`'s stand-in organisation is made from the example file as data, so that
an edit to the example that changes nothing in it cannot change what the demo shows."""

from __future__ import annotations

import re

import pytest
import yaml

from console.demo import with_standin
from tests.conftest import ANGE_ORG
from workflows.definition import RoleDef
from workflows.loader import parse_organisation

SHIPPED = ANGE_ORG.read_text(encoding="utf-8")
EVA = "      - {role: approver, unit: ks}         # kommunstyrelsens förste vice ordförande\n"


def harmless_edits() -> dict[str, str]:
    """The example as people might tidy it: the same organisation, other text."""
    assert EVA in SHIPPED  # else the edits below would not touch Eva's grant
    return {
        "as shipped": SHIPPED,
        "a comment reworded": SHIPPED.replace("# kommunstyrelsens förste vice ordförande", "# vice ordförande, KS"),
        "columns realigned": SHIPPED.replace(EVA, "      - {role: approver, unit: ks}  # vice ordförande\n"),
        "a grant in block style": SHIPPED.replace(EVA, "      - role: approver\n        unit: ks\n"),
        "no comments, CRLF": re.sub(r"[ \t]*#.*", "", SHIPPED).replace("\n", "\r\n"),
        "written out by a YAML tool": yaml.safe_dump(yaml.safe_load(SHIPPED), allow_unicode=True, sort_keys=False),
    }


@pytest.mark.parametrize("edit", list(harmless_edits()))
def test_the_stand_in_survives_an_edit_to_the_example_that_changes_nothing(edit):
    example = harmless_edits()[edit]
    before = parse_organisation(yaml.safe_load(SHIPPED))
    after = parse_organisation(yaml.safe_load(with_standin(example)))
    assert (after.units, after.meetings) == (before.units, before.meetings)
    standin = {"eva": (RoleDef("contributor", "kultur"),)}  # Eva contributes for kultur as well; nobody else changes
    assert {p.username: p.roles for p in after.people} == {
        p.username: p.roles + standin.get(p.username, ()) for p in before.people
    }


HEADING = re.compile(r"# (\d{4}-\d\d-\d\d) (\d\d:\d\d)(?:–(\d\d:\d\d))?  ")


def test_each_heading_of_the_demo_gives_the_time_of_what_happens_under_it(run, tmp_path):
    import datetime as dt
    import json
    from zoneinfo import ZoneInfo

    ran = run("demo")
    assert ran.code == 0, ran.stderr
    db = f"sqlite:///{tmp_path / 'arshjul-demo' / 'arshjul.db'}"
    log = json.loads(run("--db", db, "--as", "ulf", "log", "--format", "json").stdout)
    stockholm = ZoneInfo("Europe/Stockholm")
    at = {e["seq"]: dt.datetime.fromisoformat(e["at"].replace("Z", "+00:00")).astimezone(stockholm) for e in log}
    said, checked = None, 0
    for line in ran.stdout.splitlines():
        if line.startswith("# "):
            found = HEADING.match(line)
            assert found, line
            day, start, end = found.groups()
            said = (day, start, end or start)
        elif said and (entry := re.search(r"\(log #(\d+)\)$", line)):
            when = at[int(entry.group(1))]
            assert (f"{when:%Y-%m-%d}", said[1] <= f"{when:%H:%M}" <= said[2]) == (said[0], True), (line, said)
            checked += 1
    assert checked == len(log)  # every entry was made under a heading that says when
