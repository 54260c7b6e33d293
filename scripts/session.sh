#!/usr/bin/env bash
# Print a real arshjul session, commands and their output, for the README's opening
# transcript:  bash scripts/session.sh > /tmp/session.txt
# It works in a fresh temporary folder with copies of the shipped definition and
# example organisation, on an embedded SQLite file.
set -uo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
cp "$here/workflows/ange.yaml" "$here/workflows/examples/ange-org.yaml" "$work/"
cd "$work"
export ARSHJUL_DB=sqlite:///arshjul.db ARSHJUL_USER=nils NO_COLOR=1 COLUMNS=120

run() {
    printf '$ %s\n' "$*"
    eval "$@" 2>&1
    local code=$?
    [ "$code" = 0 ] || printf '[exit %s]\n' "$code"
    printf '\n'
}

run arshjul init
run arshjul org load ange-org.yaml
run arshjul workflow check ange.yaml
run arshjul cycle start ange.yaml --year 2027
run arshjul --as oskar stage open ange-2027 omvarldsanalys
run arshjul --as sara input submit ange-2027 omvarldsanalys verksamhetsanalys --unit bou --ref "'BOU 2026/14'"
run arshjul --as lars input return ange-2027 omvarldsanalys verksamhetsanalys --unit bou -m "'Lägg till elevprognosen'"
run arshjul --as oskar stage submit ange-2027 omvarldsanalys
run arshjul --as sara input submit ange-2027 omvarldsanalys verksamhetsanalys --unit bou -m "'Elevprognosen tillagd'"
run arshjul --as sara input approve ange-2027 omvarldsanalys verksamhetsanalys --unit bou
run arshjul --as eva input approve ange-2027 omvarldsanalys verksamhetsanalys --unit bou
run arshjul --as lars status ange-2027 --at 2026-02-20 "| head -12"
run arshjul --as ulf log --cycle ange-2027 --limit 4
run arshjul --as ulf audit verify
run arshjul reminders plan --at 2026-02-20T08:00 "| head -6"
rm -rf "$work"
