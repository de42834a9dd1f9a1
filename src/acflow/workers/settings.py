"""Where the cluster's shared pieces are, read from the environment so every machine agrees.

ACFLOW_REDIS_URL        the limiter, the leases, the status records; also the default broker and
                        result store (redis://host:6379/0)
ACFLOW_BROKER_URL       another broker (amqp://guest:guest@host:5672// for RabbitMQ)
ACFLOW_RESULT_BACKEND   another result store
ACFLOW_REDIS_PREFIX     the prefix of acflow's own keys (default "acflow:"), so clusters can share a Redis
ACFLOW_QUEUE            the queue's name (default "acflow")
ACFLOW_MIRROR_ROOT      the folder, reachable by every worker, of the accounts' mirrors (one DuckDB file each)
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:
    import redis

REDIS_ENV = "ACFLOW_REDIS_URL"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
SOCKET_TIMEOUT = 5.0  # a Redis that does not answer within this is down, not slow

_clients: dict[str, redis.Redis] = {}
_lock = threading.Lock()


def redis_url() -> str:
    return os.environ.get(REDIS_ENV) or DEFAULT_REDIS


def prefix() -> str:
    return os.environ.get("ACFLOW_REDIS_PREFIX", "acflow:")


def queue() -> str:
    return os.environ.get("ACFLOW_QUEUE", "acflow")


def client(url: str | None = None) -> redis.Redis:
    """One connection pool per Redis URL per process (redis-py's pools are thread-safe)."""
    import redis

    url = url or redis_url()
    with _lock:
        if url not in _clients:
            try:
                _clients[url] = redis.Redis.from_url(url, socket_timeout=SOCKET_TIMEOUT,
                                                     socket_connect_timeout=SOCKET_TIMEOUT,
                                                     health_check_interval=30)
            except ValueError as exc:
                raise ConfigError(f"{REDIS_ENV}: {shown(url)} is not a Redis URL ({exc}): "
                                  "write redis://host:6379/0") from None
        return _clients[url]


def shown(url: str) -> str:
    """A broker or Redis URL as messages may show it: without its password."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    return f"{parts.scheme}://{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "") + parts.path
