"""Solver settings: one validated object instead of scattered keywords.

Reproducibility rule: a fixed ``seed`` plus a ``solution_limit`` gives identical plans run to run,
also with ``workers > 1`` (each worker is deterministic; the winner is the lowest objective, then
the lowest worker index), provided the ``solution_limit`` is what ends the search. ``time_limit``
then only guards against a runaway search: set it well above what the solution limit needs (a
run cut by it is time-dependent, and ``solve`` logs a warning when that happens). The visit order
is fixed by ``seed``; no dict/set order or process timing enters the search. OR-Tools' LP/MIP cumul
scheduling filters are off by default because in ortools 9.15 they are not reproducible run to
run on models with break intervals (and sometimes make every first-solution heuristic fail);
``lp_scheduling=True`` (or ``charge_waiting``, which needs them) turns them on, giving up
bit-identical plans on models with breaks; such a solve also leaves state inside OR-Tools that
changes the next solves in the same process, so keep reproducible runs in processes that do not
use it (forked search processes, as the iterated local search and portfolio workers run in,
inherit that state).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ortools.constraint_solver import routing_enums_pb2

from optimizer.errors import Collector, Issue, ValidationError

FIRST_SOLUTION_STRATEGIES: frozenset[str] = frozenset(
    name
    for name in routing_enums_pb2.FirstSolutionStrategy.Value.DESCRIPTOR.values_by_name
    # SWEEP needs node coordinates (a sweep arranger) the model does not have.
    if name not in ("UNSET", "EVALUATOR_STRATEGY", "SWEEP")
)
METAHEURISTICS: frozenset[str] = frozenset(
    name
    for name in routing_enums_pb2.LocalSearchMetaheuristic.Value.DESCRIPTOR.values_by_name
    if name != "UNSET"
)
# Ruin strategies of OR-Tools' iterated local search (routing_ils.proto), by setting name.
RUIN_STRATEGIES: frozenset[str] = frozenset({"SISR", "RANDOM_WALK", "SPATIALLY_CLOSE_ROUTES"})
# Recreate heuristics OR-Tools accepts in a ruin-and-recreate perturbation.
RECREATE_STRATEGIES: frozenset[str] = frozenset(
    {
        "AUTO",
        "LOCAL_CHEAPEST_INSERTION",
        "LOCAL_CHEAPEST_COST_INSERTION",
        "PARALLEL_CHEAPEST_INSERTION",
        "SEQUENTIAL_CHEAPEST_INSERTION",
        "SAVINGS",
        "PARALLEL_SAVINGS",
    }
)
ACCEPTANCE_STRATEGIES: frozenset[str] = frozenset({"SIMULATED_ANNEALING", "GREEDY_DESCENT"})
# "auto": PyVRP joins OR-Tools where it can express the problem (optimizer.engines);
# "ortools": OR-Tools alone.
ENGINES: frozenset[str] = frozenset({"auto", "ortools"})

# "placed": statutory breaks are placed into the routes after the search (optimizer.breaks);
# "modelled": OR-Tools break intervals during the search.
STATUTORY_BREAKS: frozenset[str] = frozenset({"placed", "modelled"})
# "auto": plan day by day (optimizer.decompose) when the week is too large for one model in the
# time limit; "always": day by day whatever the size; "never": the greedy plan then.
DECOMPOSE: frozenset[str] = frozenset({"auto", "always", "never"})


@dataclass(frozen=True)
class SolverSettings:
    """How long and how to search.

    ``first_solution`` / ``metaheuristic`` are names of OR-Tools' ``FirstSolutionStrategy`` and
    ``LocalSearchMetaheuristic``. The default first solution is ``SAVINGS`` (Clarke and Wright):
    on a few hundred visits a 10 s search does only a handful of iterations, so the start
    decides much of the plan; from savings it ended 2 % shorter on average than from parallel
    cheapest insertion on 15 instances of 200-600 customers (better on 11, worse on long-day
    ones), and on par on Solomon's 100 customers and the sample weeks (``benchmarks/RESULTS.md``).
    The time limit counts from the call (the diagnosis and the model build use it up too). A
    ``time_limit`` shorter than ``optimizer.search.first_solution_seconds`` (0.03 s per visit,
    1-30 s) and than the first-solution heuristic needs (savings on 1,000 visits: 3-40 s on this
    project's machines, growing with the fleet) makes ``solve`` late rather than empty: it then
    builds the first solution without ILS, taking up to that long. When the heuristic cannot
    finish even so (thousands of visits, or breaks and a ``max_work`` that leave no room), the
    plan is a quick greedy one (status ``GREEDY``, with a warning;
    :mod:`optimizer.greedy`); a search in a process of its own is ended 1 s past the limit.
    ``seed`` permutes the order in which visits enter the model (0: input order), which changes
    the search trajectory deterministically. ``workers > 1`` runs a
    portfolio of differently configured searches in separate (forked) processes; the best plan
    wins.
    ``charge_waiting`` adds the vans' hourly cost for idle time (waiting) to the objective on
    van-days without breaks (OR-Tools' cumul optimizer fails with break intervals); it costs
    search speed. Departure times are made late by the extraction in any case.
    ``operator_bandit`` lets OR-Tools pick local-search operators by a multi-armed bandit
    (better on Solomon VRPTW at 10 s than the fixed operator order);
    ``gls_penalties_in_operators`` lets the insertion-based operators see the guided local
    search penalties (also better there). ``finalize_times`` adds
    finalizers that push route starts late and ends early inside the search (slower).
    ``lp_scheduling`` turns on OR-Tools' LP/MIP cumul scheduling filters (see the module
    docstring for their effect on reproducibility).

    ``iterated_local_search`` switches OR-Tools to its iterated local search (ILS): each iteration
    ruins part of the current reference plan, recreates it by insertion, improves it by a greedy
    local descent (without the slow insertion-LNS operators; ``metaheuristic`` is then only
    used by a warm start from ``initial`` and by the fallback when no first solution is found,
    as OR-Tools' ILS takes no starting plan) and accepts it as the new reference by
    ``acceptance`` (``SIMULATED_ANNEALING``, cooling from 0.1 to 0.001 times the model's mean
    arc cost, see ``optimizer.solve.annealing_temperatures``; or ``GREEDY_DESCENT``). ``ruin``
    is ``SISR`` (slack induction by string removals: strings of neighbouring visits cut out of
    a few nearby routes), ``RANDOM_WALK`` (visits met by a walk across neighbouring routes) or
    ``SPATIALLY_CLOSE_ROUTES`` (whole nearby routes);
    ``ruin_visits`` is the mean number of visits SISR removes (the walk's length; for
    ``SPATIALLY_CLOSE_ROUTES`` the number of routes is ``max(1, ruin_visits // 5)``) and
    ``ruin_sequence`` SISR's longest string (as in the SISR paper, OR-Tools also bounds strings
    by the mean route size). The defaults (30 and 30) are large ruins: each OR-Tools iteration
    is costly, so fewer, larger steps pay (measured in ``benchmarks/RESULTS.md``). ``recreate``
    names the insertion heuristic; ``AUTO`` (default) is ``LOCAL_CHEAPEST_INSERTION``, or
    ``PARALLEL_CHEAPEST_INSERTION`` when a visit has several time windows (the model then has a
    node per window, and local cheapest insertion takes the first window that fits rather than
    the cheapest; measured on sample weeks in ``benchmarks/RESULTS.md``).
    ILS is deterministic for a given model, so the reproducibility rule holds for it too.
    OR-Tools (9.15) cannot cancel an ILS search, so with one worker and no warm start it runs in
    a forked process that can be ended, as does every portfolio worker: ``solve(..., stop=...)``
    (a stoppable solve, e.g. a job) then keeps the last routes that process reported, and
    without a solution limit a search that stalls (no solution for far longer than usual, seen
    with break intervals) is ended and started again with another seed. A stoppable warm start
    with one worker searches with ``metaheuristic`` instead.

    ``engines`` chooses the search engines: ``"auto"`` (default) adds PyVRP where it can express
    the problem faithfully (see :mod:`optimizer.engines.pyvrp_model` for what declines): PyVRP
    searches first (with ``workers >= 2`` on every worker, each with its own seed) and OR-Tools
    polishes its checked plan for the rest of the time when at least 0.5 s is left
    (:mod:`optimizer.processes.engines`). ``"ortools"`` searches with OR-Tools alone. The plan
    records which engine made it (:attr:`optimizer.plan.SolverStats.engine`).

    ``statutory_breaks`` says how the statutory break rule enters the search. ``"placed"``: the
    search plans each route without its break, with room for it (a shorter
    route span, :func:`optimizer.breaks.relaxed_span`), and the break is then placed exactly
    into each route's order (:mod:`optimizer.breaks`; a route where it cannot be placed loses
    its cheapest stops). Break intervals made OR-Tools' local search crawl and stall on the
    dispatcher's weeks, and PyVRP, which has no breaks, can search such weeks this way.
    ``"modelled"`` (default): OR-Tools break intervals in the search (a route may then use the
    whole shift when its break falls into waiting time; PyVRP declines). Explicit breaks are
    always modelled.

    ``decompose`` says when a week is planned day by day (:mod:`optimizer.decompose`: the greedy
    plan improved with PyVRP one day at a time). ``"auto"`` (default): when neither PyVRP nor
    OR-Tools' model and first plan fit the whole week in the time limit (thousands of visits);
    ``"always"``: whenever PyVRP does not plan the whole week (tests, comparisons);
    ``"never"``: the greedy plan is the answer then.
    """

    time_limit: float = 10.0
    solution_limit: int | None = None
    first_solution: str = "SAVINGS"
    metaheuristic: str = "GUIDED_LOCAL_SEARCH"
    seed: int = 0
    workers: int = 1
    log_search: bool = False
    guided_local_search_lambda: float = 0.1
    charge_waiting: bool = False
    lns_time_limit: float = 0.1
    finalize_times: bool = False
    operator_bandit: bool = True
    gls_penalties_in_operators: bool = True
    lp_scheduling: bool = False
    iterated_local_search: bool = True
    ruin: str = "SISR"
    ruin_visits: int = 30
    ruin_sequence: int = 30
    recreate: str = "AUTO"
    acceptance: str = "SIMULATED_ANNEALING"
    engines: str = "auto"
    statutory_breaks: str = "modelled"
    decompose: str = "auto"

    def __post_init__(self) -> None:
        c = Collector()
        c.check(self.time_limit > 0, "settings.time_limit", f"must be > 0 s, got {self.time_limit}")
        if self.solution_limit is not None:
            c.check(
                self.solution_limit >= 1,
                "settings.solution_limit",
                f"must be >= 1 or None, got {self.solution_limit}",
            )
        c.check(
            self.first_solution in FIRST_SOLUTION_STRATEGIES,
            "settings.first_solution",
            f"unknown first-solution strategy {self.first_solution!r}; "
            f"one of {sorted(FIRST_SOLUTION_STRATEGIES)}",
        )
        c.check(
            self.metaheuristic in METAHEURISTICS,
            "settings.metaheuristic",
            f"unknown metaheuristic {self.metaheuristic!r}; one of {sorted(METAHEURISTICS)}",
        )
        c.check(self.seed >= 0, "settings.seed", f"must be >= 0, got {self.seed}")
        c.check(1 <= self.workers <= 64, "settings.workers", f"must be 1..64, got {self.workers}")
        c.check(
            self.guided_local_search_lambda > 0,
            "settings.guided_local_search_lambda",
            "must be > 0",
        )
        c.check(self.lns_time_limit > 0, "settings.lns_time_limit", "must be > 0 s")
        c.check(
            self.ruin in RUIN_STRATEGIES,
            "settings.ruin",
            f"unknown ruin strategy {self.ruin!r}; one of {sorted(RUIN_STRATEGIES)}",
        )
        c.check(
            1 <= self.ruin_visits <= 1000,
            "settings.ruin_visits",
            f"must be 1..1000, got {self.ruin_visits}",
        )
        c.check(
            1 <= self.ruin_sequence <= 1000,
            "settings.ruin_sequence",
            f"must be 1..1000, got {self.ruin_sequence}",
        )
        c.check(
            self.recreate in RECREATE_STRATEGIES,
            "settings.recreate",
            f"unknown recreate heuristic {self.recreate!r}; one of {sorted(RECREATE_STRATEGIES)}",
        )
        c.check(
            self.acceptance in ACCEPTANCE_STRATEGIES,
            "settings.acceptance",
            f"unknown acceptance strategy {self.acceptance!r}; "
            f"one of {sorted(ACCEPTANCE_STRATEGIES)}",
        )
        c.check(
            self.engines in ENGINES,
            "settings.engines",
            f"unknown engines {self.engines!r}; one of {sorted(ENGINES)}",
        )
        c.check(
            self.statutory_breaks in STATUTORY_BREAKS,
            "settings.statutory_breaks",
            f"unknown statutory_breaks {self.statutory_breaks!r}; "
            f"one of {sorted(STATUTORY_BREAKS)}",
        )
        c.check(
            self.decompose in DECOMPOSE,
            "settings.decompose",
            f"unknown decompose {self.decompose!r}; one of {sorted(DECOMPOSE)}",
        )
        c.raise_if_any()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SolverSettings:
        """Build from a mapping (e.g. parsed TOML/JSON); unknown keys and wrong types are errors."""
        known = {f.name: f for f in fields(cls)}
        issues: list[Issue] = []
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key not in known:
                issues.append(Issue(f"settings.{key}", f"unknown setting; known: {sorted(known)}"))
                continue
            expected = _TYPES[key]
            ok = isinstance(value, expected) and not (
                isinstance(value, bool) and bool not in expected
            )
            if value is None and key == "solution_limit":
                ok = True
            if not ok:
                names = "/".join(t.__name__ for t in expected)
                issues.append(
                    Issue(f"settings.{key}", f"must be {names}, got {type(value).__name__}")
                )
                continue
            kwargs[key] = float(value) if float in expected and bool not in expected else value
        if issues:
            raise ValidationError(issues)
        return cls(**kwargs)

    @classmethod
    def from_toml(cls, path: str | Path, table: str | None = "solver") -> SolverSettings:
        """Load from a TOML file: the ``[solver]`` table if present (or ``table``), else the top."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ValidationError(Issue("settings.path", f"cannot read {path}: {exc}")) from exc
        except tomllib.TOMLDecodeError as exc:
            raise ValidationError(Issue("settings.path", f"{path} is not TOML: {exc}")) from exc
        if table is not None and isinstance(data.get(table), dict):
            data = data[table]
        return cls.from_dict(data)


_TYPES: dict[str, tuple[type, ...]] = {
    "time_limit": (int, float),
    "solution_limit": (int,),
    "first_solution": (str,),
    "metaheuristic": (str,),
    "seed": (int,),
    "workers": (int,),
    "log_search": (bool,),
    "guided_local_search_lambda": (int, float),
    "charge_waiting": (bool,),
    "lns_time_limit": (int, float),
    "finalize_times": (bool,),
    "operator_bandit": (bool,),
    "gls_penalties_in_operators": (bool,),
    "lp_scheduling": (bool,),
    "iterated_local_search": (bool,),
    "ruin": (str,),
    "ruin_visits": (int,),
    "ruin_sequence": (int,),
    "recreate": (str,),
    "acceptance": (str,),
    "engines": (str,),
}
