"""PyVRP's granular neighbourhoods computed in stoppable blocks (issue 19: a stop during PyVRP's
set-up must not wait for it). Oracles: PyVRP's own ``compute_neighbours`` and the independent
checker. No wall-clock bounds: the stop is injected where the neighbourhoods ask for it."""

from __future__ import annotations

import multiprocessing as mp
import threading
from collections.abc import Callable

import pytest
import pyvrp
from pyvrp.search import NeighbourhoodParams, compute_neighbours

from optimizer.budget import STOPPED_BEFORE_FIRST_PLAN
from optimizer.engines import neighbours as neighbours_module
from optimizer.engines import pyvrp_search
from optimizer.engines.neighbours import granular_neighbours
from optimizer.engines.pyvrp_model import PyvrpMapping, express
from optimizer.engines.pyvrp_search import run_pyvrp
from optimizer.plan import Reason
from optimizer.search import Task
from optimizer.settings import SolverSettings
from optimizer.solve import solve

from .conftest import Tiny, assert_feasible
from .test_limits import CountingStop

QUICK = SolverSettings(time_limit=30.0, solution_limit=3, seed=0)


def _week(tiny: Tiny, visits: int = 40) -> Tiny:
    """Two vans on three days of 8-14 h shifts without breaks; every third visit has a
    two-hour window, the others may go on any day (one PyVRP client a day, grouped)."""
    for van in "AB":
        tiny.van(van)
        for day in range(3):
            tiny.shift(van, day, 8, 14, breaks=())
    for i in range(visits):
        kw = {}
        if i % 3 == 0:
            day, hour = i % 3, 8 + i % 5
            kw["windows"] = (tiny.window(day, hour, hour + 2),)
        tiny.visit(f"v{i:02d}", ((7 * i) % 23 - 11.0, (5 * i) % 17 - 8.0), 15, **kw)
    return tiny


def _mapping(tiny: Tiny) -> PyvrpMapping:
    problem = tiny.build()
    found = express(problem, QUICK, Task.of(problem).excluded)
    assert isinstance(found, PyvrpMapping), found
    return found


def test_the_neighbourhoods_are_pyvrps_own_up_to_ties(tiny: Tiny) -> None:
    data = _mapping(_week(tiny)).data
    assert data.groups(), "visits open on several days make groups"
    params = NeighbourhoodParams(num_neighbours=10)
    ours = granular_neighbours(data, params)
    assert ours is not None
    theirs = compute_neighbours(data, params)
    assert {a.idx for a in ours} == {a.idx for a in theirs} == set(range(data.num_clients))
    shared = 0
    for activity, near in ours.items():
        ids = [b.idx for b in near]
        assert len(ids) == len(set(ids)) == 10
        assert activity.idx not in ids
        assert all(b.is_client() for b in near)
        shared += len(set(ids) & {b.idx for b in theirs[activity]})
    # Equal proximities may be ordered differently at the tenth place; nearly all agree.
    assert shared >= 0.95 * 10 * data.num_clients


def test_clients_of_one_visit_are_the_last_neighbours_of_each_other(tiny: Tiny) -> None:
    data = _mapping(_week(tiny, visits=12)).data
    group_of = {c: g for g, group in enumerate(data.groups()) for c in group.clients}
    ours = granular_neighbours(data, NeighbourhoodParams(num_neighbours=data.num_clients - 1))
    assert ours is not None
    for activity, near in ours.items():
        g = group_of.get(activity.idx)
        if g is None:
            continue
        kin = [i for i, b in enumerate(near) if group_of.get(b.idx) == g]
        assert kin and kin == list(range(len(near) - len(kin), len(near)))


def test_a_stop_ends_the_neighbourhoods_between_blocks(
    tiny: Tiny, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _mapping(_week(tiny)).data
    monkeypatch.setattr(neighbours_module, "CHUNK_CELLS", data.num_clients * 4)  # 4 rows a block
    never = CountingStop()
    assert granular_neighbours(data, NeighbourhoodParams(), never) is not None
    assert never.asked == -(-data.num_clients // 4) - 1  # between every two blocks
    stop = CountingStop(after=2)
    assert granular_neighbours(data, NeighbourhoodParams(), stop) is None
    assert stop.asked == 2


def test_pyvrp_stopped_during_its_set_up_returns_no_plan_and_runs_no_search(
    tiny: Tiny, monkeypatch: pytest.MonkeyPatch
) -> None:
    mapping = _mapping(_week(tiny))
    monkeypatch.setattr(neighbours_module, "CHUNK_CELLS", 1)  # one row a block
    searched: list[object] = []
    monkeypatch.setattr(pyvrp_search._Searcher, "run", lambda *a: searched.append(a))
    run = run_pyvrp(mapping, 30.0, QUICK, CountingStop(after=3))
    assert not searched
    assert run.num_iterations == 0
    assert not run.best.is_feasible()  # no plan: every client of a must visit is left out


def _slow_neighbours(reached: threading.Event | object) -> Callable[..., object]:
    """PyVRP's set-up made as slow as it is on thousands of clients: at its first question
    it says it is under way (``reached``) and waits until the stop reaches it."""
    real = granular_neighbours

    def slow(
        data: pyvrp.ProblemData, params: NeighbourhoodParams, should_stop: Callable[[], bool]
    ) -> object:
        def patient() -> bool:
            reached.set()  # type: ignore[attr-defined]
            for _ in range(60_000):  # at most ten minutes: a test that hangs fails
                if should_stop():
                    return True
                threading.Event().wait(0.01)
            return False

        return real(data, params, patient)

    return slow


def test_a_stop_during_pyvrps_set_up_answers_at_once_with_the_greedy_plan(
    tiny: Tiny, monkeypatch: pytest.MonkeyPatch
) -> None:
    problem = _week(tiny).build()
    monkeypatch.setattr(neighbours_module, "CHUNK_CELLS", 1)
    reached = mp.get_context("fork").Event()  # set in the forked PyVRP process
    monkeypatch.setattr(pyvrp_search, "granular_neighbours", _slow_neighbours(reached))
    stop = threading.Event()

    def stop_once_reached() -> None:
        if reached.wait(60):
            stop.set()

    watcher = threading.Thread(target=stop_once_reached, daemon=True)
    watcher.start()
    plan = solve(problem, SolverSettings(time_limit=60.0), stop=stop)
    watcher.join()
    assert reached.is_set() and stop.is_set()
    assert STOPPED_BEFORE_FIRST_PLAN in plan.warnings
    # The best plan at hand: the greedy plan made before PyVRP's set-up, every visit counted.
    assert plan.stats.status == "GREEDY"
    assert plan.routes
    assert any("greedy plan" in w for w in plan.warnings)
    served = {s.visit_id for r in plan.routes for s in r.stops}
    left = {u.visit_id for u in plan.unassigned}
    assert served | left == {v.id for v in problem.visits} and not served & left
    assert all(u.reason != Reason.NOT_PLANNED for u in plan.unassigned)
    assert_feasible(problem, plan)
