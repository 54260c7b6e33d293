"""The goals of issue 6, judged on one backend's figures."""

from __future__ import annotations

import operator

# key: (comparison, bound)
GOALS = {
    "transition_vs_core_commit": (operator.ge, 0.5),
    "spiff_vs_arshjul": (operator.ge, 3),
    "cycle_start_s_6000_inputs": (operator.le, 1.0),
    "plan_growth": (operator.le, 3),
    "log_query_vs_raw": (operator.le, 2),
    "verify_vs_hashlib": (operator.ge, 0.5),
    "help_vs_click": (operator.le, 1.5),
    "status_vs_orm_import": (operator.le, 1.5),
}


def judge(figures: dict) -> dict:
    if "plan_ms_10k" in figures and "plan_ms_300k" in figures:
        figures["plan_growth"] = round(figures["plan_ms_300k"] / figures["plan_ms_10k"], 2)
    verdicts = {}
    for key, (compare, bound) in GOALS.items():
        if key in figures:
            sign = ">=" if compare is operator.ge else "<="
            verdicts[key] = {"value": figures[key], "goal": f"{sign} {bound}", "pass": compare(figures[key], bound)}
    return verdicts
