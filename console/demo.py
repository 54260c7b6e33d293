"""`arshjul demo`: a scripted week of Ånge kommun's wheel, each step a real command."""

from __future__ import annotations

import contextlib
import shlex
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import yaml

import workflows
from cycle.clock import FixedClock, parse_moment
from cycle.encoding import require_utf8
from cycle.errors import BadInput

ZONE = "Europe/Stockholm"  # Ånge's; the demo's moments are local times there
# Linnea (kultur) is on leave: Eva, an approver of ks, stands in as contributor for kultur.
STANDIN, STANDIN_ROLE = "eva", {"role": "contributor", "unit": "kultur"}
DEMO_INPUT = "ange-2027 omvarldsanalys verksamhetsanalys"
# (local time, who acts, the command, what happens): a week in February 2026, when the
# planning of budget year 2027 starts. Each command runs through this very CLI. A step with
# a note starts a heading, which gives the time of the steps under it (`heading`).
DEMO = (
    ("2026-02-02 08:00", None, "init", "Nils (IT) creates the database,"),
    ("2026-02-02 08:05", "nils", "org load {dir}/ange-org.yaml", "loads the organisation (the first load bootstraps)"),
    ("2026-02-02 08:10", "nils", "cycle start {dir}/ange.yaml --year 2027", "and starts budget year 2027's wheel"),
    ("2026-02-02 08:30", "oskar", "stage open ange-2027 omvarldsanalys", "Oskar (kvalitetsstrateg) opens the analysis"),
    ("2026-02-03 10:15", "sara", "input submit {input} --unit bou --ref 'BOU 2026/14'", "The operations send theirs"),
    ("2026-02-03 11:40", "johanna", "input submit {input} --unit soc", None),
    ("2026-02-03 15:05", "james", "input submit {input} --unit sbf", None),
    ("2026-02-04 09:00", "lars", "input approve {input} --unit bou", "Lars (KS chair) approves one, returns another"),
    ("2026-02-04 09:05", "lars", "input return {input} --unit sbf -m 'Befolkningsprognosen saknas: lägg till SCB:s "
     "prognos för 2027–2030.'", None),
    ("2026-02-04 09:20", "oskar", "stage submit ange-2027 omvarldsanalys", "Too early: refused, naming what blocks"),
    ("2026-02-04 13:30", "james", "input submit {input} --unit sbf -m 'Prognosen tillagd.'", "James resubmits"),
    ("2026-02-05 08:45", "eva", "input approve {input} --unit sbf", "Eva (KS vice chair) approves the two waiting"),
    ("2026-02-05 08:50", "eva", "input approve {input} --unit soc", None),
    ("2026-02-05 10:00", "nils", "org load {dir}/ange-org-vikarie.yaml",
     "Linnea (kultur) is on leave: Eva stands in as contributor for kultur"),
    ("2026-02-05 14:00", "eva", "input submit {input} --unit kultur", None),
    ("2026-02-05 14:05", "eva", "input approve {input} --unit kultur", "Eva may not approve her own input: four eyes"),
    ("2026-02-06 07:00", "nils", "reminders plan", "Friday, a week before the inputs are due: what goes out, and why"),
    ("2026-02-06 07:00", "nils", "reminders send --eml --mail-dir {dir}/mail", None),
    ("2026-02-06 07:30", "lars", "status ange-2027", "Where the wheel stands"),
    ("2026-02-06 07:30", "ulf", "log --cycle ange-2027", "What the auditor (Ulf) sees in the log"),
    ("2026-02-06 07:30", "ulf", "audit verify", None),
)  # fmt: skip


def play(folder: str, run: Callable[[list[str], FixedClock], None], echo: Callable[[str], None]) -> None:
    """Play the week in a fresh `folder`: `run(args, clock)` runs one arshjul command in-process."""
    base = _demo_folder(folder)
    url = f"sqlite:///{base / 'arshjul.db'}"
    clock = FixedClock(parse_moment(DEMO[0][0], ZONE))
    echo("arshjul demo: a week of Ånge kommun's wheel. The clock is fixed at each step's time in February\n"
         "2026, when the planning of budget year 2027 begins (its first deadlines fall in February and\n"
         f"March 2026). The database, recreated on each run, is {url};\n"
         f"to look around afterwards: export ARSHJUL_DB={url}")  # fmt: skip
    with contextlib.redirect_stderr(sys.stdout):  # one readable stream, in order
        for n, (when, who, command, note) in enumerate(DEMO):
            clock.set(parse_moment(when, ZONE))
            if note:
                echo(f"\n# {heading(n)}  {note}")
            args = shlex.split(command.format(dir=shlex.quote(str(base)), input=DEMO_INPUT))
            echo(f"$ arshjul {'--as ' + who + ' ' if who else ''}{shlex.join(args)}")
            sys.stdout.flush()
            run(["--db", url, *(["--as", who] if who else []), *args], clock)
    mails = sorted(p.name for p in (base / "mail").glob("*.eml"))
    echo(f"\nMail: {len(mails)} message(s) written to {base / 'mail'}/" + "".join(f"\n  {m}" for m in mails))


def heading(first: int) -> str:
    """When the steps under the note of step `first` happen: `2026-02-03 10:15–15:05`, or one moment."""
    last = first
    while last + 1 < len(DEMO) and not DEMO[last + 1][3]:
        last += 1
    start, end = DEMO[first][0], DEMO[last][0]
    if end == start:
        return start
    return f"{start}–{end[11:]}" if end[:10] == start[:10] else f"{start} – {end}"


def _demo_folder(folder: str):
    """A fresh folder; refuses to empty one that the demo did not make, or one the database URL cannot name."""
    require_utf8(folder, "--dir")
    require_utf8(str(Path(folder).absolute()), "the full path of --dir")
    base = Path(folder)
    marker = base / ".arshjul-demo"
    if base.exists():
        if not marker.exists() and any(base.iterdir()):
            raise BadInput(f"{folder} exists and was not made by `arshjul demo`", "choose another folder with --dir")
        shutil.rmtree(base)
    (base / "mail").mkdir(parents=True)
    marker.write_text("made by `arshjul demo`; it is emptied on each run\n", encoding="utf-8")
    shipped = Path(workflows.__file__).parent
    shutil.copyfile(shipped / "ange.yaml", base / "ange.yaml")
    org_text = (shipped / "examples" / "ange-org.yaml").read_text(encoding="utf-8")
    (base / "ange-org.yaml").write_text(org_text, encoding="utf-8")
    (base / "ange-org-vikarie.yaml").write_text(with_standin(org_text), encoding="utf-8")
    return base


def with_standin(org_text: str) -> str:
    """The organisation file `org_text` with the stand-in's extra role, as YAML.

    Edited as data, not as text: a comment, a column or a quote changed in the example
    must not quietly lose the stand-in, and with it the demo's four-eyes refusal.
    """
    org = yaml.safe_load(org_text)
    people = {person["username"]: person for person in org["people"]}
    people[STANDIN]["roles"].append(dict(STANDIN_ROLE))
    note = "# ange-org.yaml as `arshjul demo` changed it: Eva stands in for Linnea as contributor for kultur.\n"
    return note + yaml.safe_dump(org, allow_unicode=True, sort_keys=False, width=120)
