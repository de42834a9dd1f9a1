"""One sliding-window limiter per account, shared by everything in the process.

ActiveCampaign allows 5 requests per second per account and counts them over a
sliding second. We keep a log of our last N send times and send the next one
only when the oldest left the window, widened by a small margin so network
jitter cannot make the server see N+1 in its window. A 429 pauses every sender
of the account until its Retry-After has passed.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import math
import os
import threading
import time

DEFAULT_RATE = 5.0
MARGIN = 0.03  # 3% wider window: 4.85 requests/s against a limit of 5
URGENT_FIRST = 0.005  # seconds a request waits while an urgent one takes the free slot


class RateLimiter:
    def __init__(self, rate: float = DEFAULT_RATE, margin: float = MARGIN) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.capacity = max(1, math.floor(rate))
        self.window = self.capacity / rate * (1 + margin)
        self._sent: list[tuple[float, int]] = []  # (send time, slot), oldest first
        self._slots = itertools.count(1)
        self._paused_until = 0.0
        self._urgent = 0  # urgent acquirers waiting
        self._lock = threading.Lock()  # no awaits inside: safe across event loops and threads

    def _reserve(self, urgent: bool = False) -> tuple[float, int | None]:
        """Take a slot now (0, its number) or say how long to wait before asking again."""
        with self._lock:
            now = time.monotonic()
            if now < self._paused_until:
                return self._paused_until - now, None
            while self._sent and self._sent[0][0] <= now - self.window:
                self._sent.pop(0)
            if len(self._sent) < self.capacity:
                if self._urgent and not urgent:  # a reader that cannot go on without its answer goes first
                    return URGENT_FIRST, None
                slot = next(self._slots)
                self._sent.append((now, slot))
                return 0.0, slot
            return self._sent[0][0] + self.window - now, None

    def sent(self, slot: int) -> None:
        """The request of `slot` was written now: its time moves here (only ever later). A new
        connection's first request (a process's first, its TCP handshake) reaches the server later
        than its slot; counted from the slot, the sixth send could then land inside the server's
        window of the first."""
        with self._lock:
            for i, (when, mine) in enumerate(self._sent):
                if mine == slot:
                    del self._sent[i]
                    bisect.insort(self._sent, (max(when, time.monotonic()), slot))
                    return

    async def acquire(self, urgent: bool = False) -> int | None:
        """Wait for a slot. `urgent`: the next page of a read that goes one page at a time (id keyset):
        served before the pages other readers fetch ahead, or the account's last seconds are that one
        reader alone, one request in flight."""
        if urgent:
            with self._lock:
                self._urgent += 1
        try:
            while True:
                wait, slot = self._reserve(urgent)
                if slot is not None:
                    return slot
                await asyncio.sleep(wait)
        finally:
            if urgent:
                with self._lock:
                    self._urgent -= 1

    def pause(self, seconds: float) -> None:
        """The server said "too many": nobody sends for `seconds`."""
        with self._lock:
            self._paused_until = max(self._paused_until, time.monotonic() + seconds)


REDIS_ENV = "ACFLOW_REDIS_URL"
_limiters: dict[tuple[str, float, str | None], RateLimiter] = {}
_registry_lock = threading.Lock()


def limiter_for(account_url: str, rate: float = DEFAULT_RATE) -> RateLimiter:
    """The process-wide limiter of an account (by its URL, never its key).

    With ACFLOW_REDIS_URL set, the account's log lives in that Redis and every process using it
    (CLI runs, workers on other machines) shares one limit (acflow.workers.limiter); redis is
    imported only then."""
    redis_url = os.environ.get(REDIS_ENV) or None
    with _registry_lock:
        key = (account_url, rate, redis_url)
        if key not in _limiters:
            if redis_url:
                from .workers.limiter import RedisRateLimiter

                _limiters[key] = RedisRateLimiter(redis_url, account_url, rate)
            else:
                _limiters[key] = RateLimiter(rate)
        return _limiters[key]
