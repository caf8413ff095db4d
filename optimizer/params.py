"""OR-Tools search parameters for vanplan's settings and models: the metaheuristic, iterated
local search (ruin and recreate, acceptance), operators, limits."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from google.protobuf.duration_pb2 import Duration
from ortools.constraint_solver import pywrapcp, routing_enums_pb2, routing_ils_pb2
from ortools.util import optional_boolean_pb2

from optimizer.domain import UNREACHABLE
from optimizer.model import COST_SCALE, VanModel
from optimizer.settings import SolverSettings


def search_parameters(
    settings: SolverSettings, time_limit: float | None = None
) -> Any:  # RoutingSearchParameters (protobuf message)
    """OR-Tools search parameters for ``settings`` (``time_limit`` overrides the settings')."""
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.Value.Value(
        settings.first_solution
    )
    params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.Value.Value(
        settings.metaheuristic
    )
    limit = settings.time_limit if time_limit is None else time_limit
    params.time_limit.CopyFrom(duration(limit))
    params.lns_time_limit.CopyFrom(duration(settings.lns_time_limit))
    if settings.solution_limit is not None:
        params.solution_limit = settings.solution_limit
    params.guided_local_search_lambda_coefficient = settings.guided_local_search_lambda
    params.log_search = settings.log_search
    params.use_multi_armed_bandit_concatenate_operators = settings.operator_bandit
    params.use_guided_local_search_penalties_in_local_search_operators = (
        settings.gls_penalties_in_operators
    )
    if settings.iterated_local_search:
        _set_ils(params, settings)
    if not settings.lp_scheduling and not settings.charge_waiting:
        # OR-Tools' LP/MIP cumul scheduling filters (9.15) are not reproducible run to run once
        # break intervals are present; the CP propagation alone still enforces every time
        # constraint. Slack costs (charge_waiting) need the scheduler.
        params.disable_scheduling_beware_this_may_degrade_performance = True
    return params


_ILS_OFF_OPERATORS = (
    "use_global_cheapest_insertion_path_lns",
    "use_local_cheapest_insertion_path_lns",
    "use_global_cheapest_insertion_visit_types_lns",
    "use_local_cheapest_insertion_visit_types_lns",
)


# Operators that move visits out of the routes in chains or work on visits already left out.
# When every visit is mandatory (a must penalty no plan pays willingly) their moves are
# rejected or have nothing to act on; ILS still re-inserts left-out visits by its recreate
# step and the plain make-active operator. Switching them off there gives 12-20 % more
# iterations on Solomon (benchmarks/RESULTS.md). Not with window alternatives: there some node
# of a served visit is always left out, and swapping it in moves the visit to another window.
_OPTIONAL_VISIT_OPERATORS = (
    "use_make_chain_inactive",
    "use_swap_active_chain",
    "use_shortest_path_swap_active",
    "use_relocate_path_global_cheapest_insertion_insert_unperformed",
)


def recreate_heuristic(settings: SolverSettings, *, window_alternatives: bool) -> str:
    """The ILS recreate heuristic: ``settings.recreate``, with ``AUTO`` resolved. Local cheapest
    insertion inserts a visit's first window node that fits; parallel cheapest insertion compares
    all of them, so it is the choice when the model has window nodes."""
    if settings.recreate != "AUTO":
        return settings.recreate
    return "PARALLEL_CHEAPEST_INSERTION" if window_alternatives else "LOCAL_CHEAPEST_INSERTION"


def _set_ils(params: Any, settings: SolverSettings) -> None:
    """Iterated local search with one ruin-and-recreate perturbation (routing_ils.proto). The
    local search of each iteration is a greedy descent: a metaheuristic there would never
    return to the perturbation step."""
    params.use_iterated_local_search = True
    params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GREEDY_DESCENT
    # Ruin and recreate is the large move; the slow insertion-LNS operators would make each
    # iteration's descent ~10x slower (measured on Solomon: ~400 instead of ~3,000 solutions in
    # 10 s, and worse plans). Re-inserting unperformed visits stays on.
    ops = params.local_search_operators
    for name in _ILS_OFF_OPERATORS:
        setattr(ops, name, optional_boolean_pb2.BOOL_FALSE)
    ils = params.iterated_local_search_parameters
    ils.perturbation_strategy = routing_ils_pb2.PerturbationStrategy.RUIN_AND_RECREATE
    ils.improve_perturbed_solution = True
    rr = ils.ruin_recreate_parameters
    del rr.ruin_strategies[:]
    ruin = rr.ruin_strategies.add()
    if settings.ruin == "SISR":
        ruin.sisr.avg_num_removed_visits = settings.ruin_visits
        ruin.sisr.max_removed_sequence_size = settings.ruin_sequence
        ruin.sisr.bypass_factor = 0.01  # the paper's alpha
    elif settings.ruin == "RANDOM_WALK":
        ruin.random_walk.num_removed_visits = settings.ruin_visits
    else:
        ruin.spatially_close_routes.num_ruined_routes = max(1, settings.ruin_visits // 5)
    rr.ruin_composition_strategy = routing_ils_pb2.RuinCompositionStrategy.RUN_ALL_SEQUENTIALLY
    rr.recreate_strategy.heuristic = routing_enums_pb2.FirstSolutionStrategy.Value.Value(
        recreate_heuristic(settings, window_alternatives=False)
    )
    rr.recreate_strategy.ClearField("parameters")
    accept = ils.reference_solution_acceptance_strategy
    accept.Clear()
    if settings.acceptance == "SIMULATED_ANNEALING":
        sa = accept.simulated_annealing
        sa.cooling_schedule_strategy = routing_ils_pb2.CoolingScheduleStrategy.EXPONENTIAL
        # Without a model: OR-Tools derives them from a random sample of arcs;
        # model_search_parameters replaces them with the model's own.
        sa.automatic_temperatures = True
    else:
        accept.greedy_descent.SetInParent()
    ils.best_solution_acceptance_strategy.Clear()
    ils.best_solution_acceptance_strategy.greedy_descent.SetInParent()


def annealing_temperatures(model: VanModel) -> tuple[float, float]:
    """Initial and final simulated-annealing temperatures for ILS: 0.1 and 0.001 times the mean
    travel cost of an arc between the model's places, OR-Tools' own rule, but over every arc
    rather than a random sample, averaged over the vehicles' cost rates, and without the pairs
    that are unreachable (their forbidden-arc cost would make the annealing accept anything)."""
    matrix = model.problem.matrix
    index = np.array([matrix.index(loc) for loc in dict.fromkeys(model.node_location)])
    dur = matrix.durations[np.ix_(index, index)].astype(np.float64)
    dist = matrix.distances[np.ix_(index, index)].astype(np.float64)
    ok = (matrix.durations[np.ix_(index, index)] != UNREACHABLE) & (
        matrix.distances[np.ix_(index, index)] != UNREACHABLE
    )
    np.fill_diagonal(ok, False)
    if not ok.any():
        return 1.0, 0.01
    vans = {v.id: v for v in model.problem.vans}
    per_km = np.mean([vans[s.van_id].cost_per_km for s in model.shifts])
    per_hour = np.mean([vans[s.van_id].cost_per_hour for s in model.shifts])
    cost = dist[ok] * (per_km * COST_SCALE / 1000.0) + dur[ok] * (per_hour * COST_SCALE / 3600.0)
    mean = float(cost.mean())
    return (0.1 * mean, 0.001 * mean) if mean > 0 else (1.0, 0.01)


def model_search_parameters(
    model: VanModel, settings: SolverSettings, time_limit: float | None = None
) -> Any:  # RoutingSearchParameters (protobuf message)
    """``search_parameters`` for a built model, as ``solve`` searches it: with ILS and simulated
    annealing, the temperatures are the model's (:func:`annealing_temperatures`) instead of
    OR-Tools' automatic ones, which a single unreachable pair in its random sample can inflate.
    When every visit of the model is mandatory, ILS also leaves out the operators that only serve
    optional visits (``_OPTIONAL_VISIT_OPERATORS``); ``recreate="AUTO"`` is resolved here (see
    :class:`~optimizer.settings.SolverSettings`)."""
    params = search_parameters(settings, time_limit)
    if (
        settings.iterated_local_search
        and all(v.is_must for v in model.visits)
        and not model.has_window_alternatives  # swapping window nodes is their work
    ):
        ops = params.local_search_operators
        for name in _OPTIONAL_VISIT_OPERATORS:
            setattr(ops, name, optional_boolean_pb2.BOOL_FALSE)
    if settings.iterated_local_search:
        rr = params.iterated_local_search_parameters.ruin_recreate_parameters
        rr.recreate_strategy.heuristic = routing_enums_pb2.FirstSolutionStrategy.Value.Value(
            recreate_heuristic(settings, window_alternatives=model.has_window_alternatives)
        )
    if settings.iterated_local_search and settings.acceptance == "SIMULATED_ANNEALING":
        sa = params.iterated_local_search_parameters.reference_solution_acceptance_strategy
        sa.simulated_annealing.automatic_temperatures = False
        t_first, t_last = annealing_temperatures(model)
        sa.simulated_annealing.initial_temperature = t_first
        sa.simulated_annealing.final_temperature = t_last
    return params


def without_ils(params: Any, settings: SolverSettings) -> Any:
    """``params`` for a plain search (no ILS): the settings' metaheuristic and operators."""
    if not params.use_iterated_local_search:
        return params
    plain = search_parameters(replace(settings, iterated_local_search=False))
    plain.time_limit.CopyFrom(params.time_limit)
    return plain


def duration(seconds: float) -> Duration:
    d = Duration()
    d.FromNanoseconds(int(max(seconds, 0.001) * 1e9))
    return d
