"""`workflow check` warns of what a definition takes but its writer hardly meant, exit 0."""

from __future__ import annotations

from tests.conftest import ANGE


def test_workflow_check_warns_of_a_lead_time_given_twice_naming_file_path_and_line(run, tmp_path):
    text = ANGE.read_text(encoding="utf-8")
    assert "  before_days: [28, 7, 1]\n" in text
    path = tmp_path / "ange.yaml"
    path.write_text(text.replace("  before_days: [28, 7, 1]\n", "  before_days: [28, 7, 7]\n", 1), encoding="utf-8")
    line = text.splitlines().index("  before_days: [28, 7, 1]") + 1
    ran = run("workflow", "check", str(path))
    assert ran.code == 0, ran.stderr
    assert ran.stderr.splitlines() == [
        f"ok: {path} (10 stages, 14 inputs)",
        f"warning: {path}: reminders.before_days[2]: 7 is already before_days[1]; a duplicate is almost always a "
        f"typo: was another lead time meant? (one reminder goes out 7 days before the deadline) (line {line})",
    ]
