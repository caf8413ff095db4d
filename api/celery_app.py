"""The Celery application of the job runner, and the Redis keys its API side and workers share.

Celery (broker: Redis at ``settings.redis_url``) carries one message per job run: the job's id.
There is no result backend: the database (:class:`~api.storage.jobs.JobStore`) stays the record
of status, progress, best cost, attempts and plan.

Delivery guarantees, and why they are set so:

- ``task_acks_late`` and ``worker_prefetch_multiplier=1``: a worker takes one job at a time and
  acknowledges it only when the job has ended, so a job of a worker that dies is still in the
  broker's unacknowledged set. ``task_reject_on_worker_lost`` returns it to the queue at once when
  a pool process dies under a live worker.
- A whole worker killed (``kill -9``, a lost machine) leaves its message unacknowledged until the
  Redis transport's ``visibility_timeout``. That timeout must exceed the longest job (else a
  running job is handed to a second worker), so it cannot also be short enough to bring a lost
  job back within a minute. The API therefore watches a heartbeat key that the worker renews
  while the job runs (:class:`Keys`), and queues a job whose heartbeat has gone again itself
  (:class:`api.celery_jobs.CeleryRunner`); the visibility timeout is the backstop for the time no
  API runs. Either way the database decides: a job runs only from the queued state, so a second
  message for the same job is dropped.
"""

from __future__ import annotations

from celery import Celery

from api.settings import Settings

TASK_NAME = "vanplan.run_job"
"""The one task: run the job with the given id."""


class Keys:
    """vanplan's own Redis keys (besides Celery's) under one prefix."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.queue = f"{prefix}.jobs"
        """The Celery queue of the jobs."""
        self.broker = f"{prefix}:celery:"
        """The prefix of every key the Celery broker writes."""

    def heartbeat(self, job_id: str) -> str:
        """Exists (with a short expiry, renewed) while a worker runs the job."""
        return f"{self.prefix}:jobs:heartbeat:{job_id}"

    def stop(self, job_id: str) -> str:
        """Set by the API to stop the job early; its worker watches it."""
        return f"{self.prefix}:jobs:stop:{job_id}"


def make_celery(settings: Settings) -> Celery:
    """The Celery application of these settings (API side and workers alike)."""
    keys = Keys(settings.redis_prefix)
    app = Celery("vanplan", broker=settings.redis_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_default_queue=keys.queue,
        task_serializer="json",
        accept_content=["json"],
        broker_transport_options={
            "visibility_timeout": settings.visibility_timeout,
            "global_keyprefix": keys.broker,
        },
        broker_connection_retry_on_startup=True,
        # Nothing is sent to workers besides jobs (stop goes through a key), so no control
        # queues, events or worker-to-worker chatter on the broker.
        worker_enable_remote_control=False,
        worker_send_task_events=False,
        worker_hijack_root_logger=False,
    )
    return app
