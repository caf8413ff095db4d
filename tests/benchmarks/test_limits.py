"""benchmarks/limits.py: the phases before the search, timed on a small synthetic week."""

from __future__ import annotations

from benchmarks.limits import build_parser, phases, sized_problem


def test_the_phases_of_a_small_week_are_timed_and_the_greedy_plan_serves_visits() -> None:
    found = phases(40, seed=1)
    assert set(found) == {"size", "precheck", "greedy", "greedy_assigned", "build", "peak_rss_mb"}
    assert found["size"] == 40
    assert 0 < found["greedy_assigned"] <= len(sized_problem(40, 1).visits)
    assert all(found[k] >= 0 for k in ("precheck", "greedy", "build"))


def test_the_parser_takes_the_phases_switch() -> None:
    args = build_parser().parse_args(["--sizes", "1000,2000", "--phases"])
    assert args.phases and args.sizes == "1000,2000"


def test_a_week_without_breaks_is_one_pyvrp_can_express() -> None:
    from optimizer.engines.pyvrp_model import PyvrpMapping, express
    from optimizer.settings import SolverSettings

    week = sized_problem(40, 1, no_breaks=True)
    rule = week.break_rule
    assert all(s.max_work is not None and s.max_work <= rule.after_first for s in week.shifts)
    assert isinstance(express(week, SolverSettings(), {}), PyvrpMapping)
    assert not isinstance(express(sized_problem(40, 1), SolverSettings(), {}), PyvrpMapping)
    args = build_parser().parse_args(["--sizes", "1000", "--no-breaks"])
    assert args.no_breaks
