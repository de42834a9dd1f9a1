"""What the cluster is doing, kept in Redis by the tasks and read by `acflow workers status`.

Keys (under ACFLOW_REDIS_PREFIX): `running` (account -> task, worker, start), `runs` (the last 500
results), `errors` (the last 100 failures), `task:<id>:*` (a task's first start and its result, kept a
week: a task delivered again after its worker died finds what was already done).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from . import settings
from .lease import lease_key

if TYPE_CHECKING:
    import redis
    from celery import Celery

WEEK = 7 * 86400


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Records:
    def __init__(self, r: redis.Redis) -> None:
        self.r = r
        self.p = settings.prefix()

    def first_started(self, task_id: str) -> str:
        """When this task first started, on any worker (later deliveries keep the first)."""
        key = f"{self.p}task:{task_id}:started"
        self.r.set(key, now_iso(), nx=True, ex=WEEK)
        value = self.r.get(key)
        return value.decode() if value else now_iso()

    def result_of(self, task_id: str) -> dict[str, Any] | None:
        value = self.r.get(f"{self.p}task:{task_id}:result")
        return json.loads(value) if value else None

    def running(self, account: str, task_id: str, worker: str) -> None:
        self.r.hset(f"{self.p}running", account, json.dumps({"task": task_id, "worker": worker,
                                                             "started": now_iso()}))

    def not_running(self, account: str, task_id: str) -> None:
        current = self.r.hget(f"{self.p}running", account)
        if current and json.loads(current).get("task") == task_id:
            self.r.hdel(f"{self.p}running", account)

    def finished(self, task_id: str, result: dict[str, Any]) -> None:
        text = json.dumps(result, default=str)
        pipe = self.r.pipeline()
        pipe.set(f"{self.p}task:{task_id}:result", text, ex=WEEK)
        pipe.lpush(f"{self.p}runs", text)
        pipe.ltrim(f"{self.p}runs", 0, 499)
        if result.get("status") == "failed":
            pipe.lpush(f"{self.p}errors", text)
            pipe.ltrim(f"{self.p}errors", 0, 99)
        pipe.execute()


def queue_depth(app: Celery, queue: str) -> int | None:
    """Tasks waiting in the queue (not those running); None if the broker cannot say."""
    try:
        with app.connection_for_read() as conn:
            return int(conn.default_channel.queue_declare(queue=queue, passive=True).message_count)
    except Exception as exc:  # never declared yet (no task was ever sent), or the broker is away
        if "not found" in str(exc).lower() or "no queue" in str(exc).lower() or "NOT_FOUND" in str(exc):
            return 0
        return None


def status(app: Celery, *, workers_timeout: float = 1.0, errors: int = 10) -> dict[str, Any]:
    """Queue depth, the workers that answer, the runs going on per account, recent results and errors."""
    r = settings.client()
    p = settings.prefix()
    running = {}
    for account, value in sorted(r.hgetall(f"{p}running").items()):
        name = account.decode()
        info = json.loads(value)
        info["lease_seconds_left"] = round(max(0, r.pttl(lease_key(name))) / 1000, 1)
        if info["lease_seconds_left"] > 0:  # a dead worker's entry: its lease has expired
            running[name] = info
    recent = [json.loads(v) for v in r.lrange(f"{p}runs", 0, 499)]
    counts: dict[str, int] = {}
    for run in recent:
        counts[run.get("status", "?")] = counts.get(run.get("status", "?"), 0) + 1
    try:
        replies = app.control.ping(timeout=workers_timeout)
        workers = sorted(name for reply in replies for name in reply)
    except Exception:
        workers = []
    return {"queue": settings.queue(), "queued": queue_depth(app, settings.queue()), "workers": workers,
            "running": running, "recent": counts, "last_errors": [json.loads(v) for v in
                                                                  r.lrange(f"{p}errors", 0, errors - 1)],
            "at": now_iso(), "clock": time.time()}
