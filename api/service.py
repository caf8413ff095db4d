"""Wiring of the planning service into an app: the planner, the week tasks and the job runner
(in-process or Celery) on ``app.state``, started and stopped with the app.

Kept apart from :mod:`api.jobs` (the runner interface) so that the runners, the planner and the
week tasks import nothing from here and the imports stay one-way.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from api.celery_jobs import CeleryRunner
from api.jobs import InProcessRunner, JobRunner
from api.planner import planner_from_settings
from api.settings import Settings
from api.storage.jobs import JobStore
from api.tenants import TenantPlanners
from api.weeks import WeekTasks
from geo.providers import RoadMatrixProvider
from optimizer.processes import WARM_UP_THREAD, warm_up

log = logging.getLogger(__name__)


def start_planning(app: Any, runner: JobRunner | None = None) -> None:
    """Set up the planner and job runner on ``app.state`` and resume unfinished jobs.

    Runs from the app's lifespan after the database is migrated (``app.state.settings``,
    ``app.state.db``); pair with :func:`stop_planning`. ``app.state.planner`` plans for the
    configured service area; ``app.state.planners(tenant_id)`` for a tenant's own area. With an OSM
    file configured, the road network loads in the background and ``app.state.road_network`` is set
    once it is there.
    """
    settings: Settings = app.state.settings
    planner = planner_from_settings(settings)
    planners = TenantPlanners(app.state.db, settings, planner)
    tasks = WeekTasks(
        app.state.db, planner, settings.week_time_limit, settings.job_time_limit, planners
    )
    if runner is None and settings.job_runner == "celery":
        runner = CeleryRunner.from_settings(JobStore(app.state.db), settings)
    if runner is None:
        runner = InProcessRunner(
            JobStore(app.state.db),
            lambda request, progress, stop, tenant_id: planners(tenant_id).solve(
                request, progress, stop, time_limit=settings.job_time_limit
            ),
            workers=settings.job_workers,
            tasks=tasks,
        )
    app.state.planner = planner
    app.state.planners = planners
    app.state.job_runner = runner
    threading.Thread(target=warm_up, name=WARM_UP_THREAD, daemon=True).start()
    roads = planner.road_provider
    if isinstance(roads, RoadMatrixProvider):

        def load() -> None:
            try:
                app.state.road_network = roads.network()
            except Exception:
                log.exception("road network could not be loaded; /ready stays not ready")

        threading.Thread(target=load, name="vanplan-network", daemon=True).start()
    resumed = runner.recover()
    if resumed:
        log.info("resumed %d unfinished jobs", len(resumed))


def stop_planning(app: Any) -> None:
    """Close the app's job runner (its unfinished jobs stay recorded for the next start)."""
    runner: JobRunner | None = getattr(app.state, "job_runner", None)
    if runner is not None:
        runner.close()
