"""One sync per account at a time across the cluster: a lease in Redis, renewed while the run lasts.

redis-py's Lock is the lease (a key holding our token, set NX with a time to live); a thread renews it
(`reacquire`: the full time to live again) every third of it. A worker that dies stops renewing, so
the lease expires `ttl` seconds later and the next run on the account proceeds. A run finding the
account busy waits for it (up to `wait` seconds) or is recorded as skipped, as the caller chose.

If the lease is lost while the run goes on (Redis restarted without persistence, or stalled past the
time to live), the run is not stopped half-way: the account's mirror is a DuckDB file only one process
can open for writing, so a second run on it waits for or fails on the file, never writes beside it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import TYPE_CHECKING

from . import settings

if TYPE_CHECKING:
    import redis
    from redis.lock import Lock

log = logging.getLogger("acflow.workers")
DEFAULT_TTL = 30.0  # seconds a dead worker keeps its accounts busy


class AccountBusy(Exception):
    """Another run holds the account's lease."""


class AccountLease:
    """`with AccountLease(r, "acct01", wait=60):` runs the block holding the account's lease."""

    def __init__(self, r: redis.Redis, account: str, *, ttl: float = DEFAULT_TTL, wait: float | None = None) -> None:
        self.redis = r
        self.account = account
        self.ttl = ttl
        self.wait = wait  # None: as long as it takes; 0: not at all
        self.name = lease_key(account)
        self.lost = False  # the renewal found the lease gone or taken
        self._lock: Lock | None = None
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def __enter__(self) -> AccountLease:
        from redis.lock import Lock

        self._lock = Lock(self.redis, self.name, timeout=self.ttl, sleep=0.2, thread_local=False,
                          blocking=self.wait != 0, blocking_timeout=self.wait)
        if not self._lock.acquire():
            raise AccountBusy(self.account)
        self._renewer = threading.Thread(target=self._renew, name=f"acflow-lease-{self.account}", daemon=True)
        self._renewer.start()
        return self

    def _renew(self) -> None:
        import redis

        assert self._lock is not None
        while not self._stop.wait(self.ttl / 3):
            try:
                self._lock.reacquire()
            except redis.exceptions.LockError:
                if not self.lost:
                    log.error("the lease on account %s was lost (Redis restarted or stalled); the run goes on, "
                              "its mirror file keeps a second run out", self.account)
                self.lost = True
                with contextlib.suppress(redis.RedisError):  # take it back if nobody else did: others wait again
                    self.lost = not self._lock.acquire(blocking=False)
            except redis.RedisError as exc:
                log.warning("could not renew the lease on account %s (%s); trying again", self.account,
                            type(exc).__name__)

    def __exit__(self, *exc: object) -> None:
        import redis

        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
        if self._lock is not None:
            with contextlib.suppress(redis.RedisError):  # expired, taken, or Redis away: it expires by itself
                self._lock.release()


def lease_key(account: str) -> str:
    return f"{settings.prefix()}lease:{account}"
