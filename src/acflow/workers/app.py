"""The Celery app: Redis as broker and result store by default, RabbitMQ as broker if you like.

Tasks are acknowledged late (after they ran) and rejected back to the queue if their worker dies,
one at a time per worker slot (prefetch 1), so a killed worker's task goes to another. With Redis as
broker an unacknowledged task comes back after the visibility timeout (ACFLOW_VISIBILITY_TIMEOUT,
default 1 hour); RabbitMQ gives it back as soon as the dead worker's connection closes. A task that is
delivered twice while the first delivery still runs waits on the account's lease, then finds its work
done (tasks.py): nothing runs beside itself.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from . import settings

if TYPE_CHECKING:
    from celery import Celery

TASK = "acflow.run_account"
_apps: dict[tuple[str, str], Celery] = {}


def broker_url() -> str:
    return os.environ.get("ACFLOW_BROKER_URL") or settings.redis_url()


def backend_url() -> str:
    return os.environ.get("ACFLOW_RESULT_BACKEND") or settings.redis_url()


def get_app(broker: str | None = None, backend: str | None = None) -> Celery:
    """The app for these URLs (from the environment by default), made once per process."""
    key = (broker or broker_url(), backend or backend_url())
    if key not in _apps:
        _apps[key] = _make(*key)
    return _apps[key]


def _transport_options() -> dict[str, Any]:
    """Redis as broker: a dead worker's unacknowledged task is given again after the visibility timeout,
    found by a sweep every few seconds (kombu's default sweep is every 100 s)."""
    visibility = float(os.environ.get("ACFLOW_VISIBILITY_TIMEOUT", 3600))
    return {"visibility_timeout": visibility, "unacked_restore_interval": max(1, min(10, int(visibility / 4))),
            "unacked_restore_throttle": 1, "socket_timeout": 30}


def _make(broker: str, backend: str) -> Celery:
    from celery import Celery

    app = Celery("acflow", broker=broker, backend=backend, set_as_current=False)
    app.conf.update(
        task_acks_late=True,  # acknowledged once it ran: a worker dying mid-run leaves it queued
        task_reject_on_worker_lost=True,  # a pool process killed: the task goes back to the queue
        worker_prefetch_multiplier=1,  # a worker holds no more tasks than it runs
        task_acks_on_failure_or_timeout=True,  # a run that failed is recorded, not run again and again
        task_serializer="json", result_serializer="json", accept_content=["json"],
        task_default_queue=settings.queue(),
        task_track_started=True,
        result_expires=7 * 86400,
        broker_connection_retry_on_startup=True,
        broker_transport_options=_transport_options(),
        worker_cancel_long_running_tasks_on_connection_loss=False,  # a broker blip does not stop a sync
        worker_send_task_events=False,
    )

    @app.task(name=TASK, bind=True)
    def run_account(self: Any, payload: dict[str, Any]) -> dict[str, Any]:
        from .tasks import run_job

        return run_job(self.request.id, payload, hostname=self.request.hostname or "")

    return app
