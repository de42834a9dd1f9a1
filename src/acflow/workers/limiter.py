"""One rate limit per account across every process and machine: a sliding log in Redis.

The same guarantee as `ratelimit.RateLimiter`: at most N sends in any window of N/rate*(1+margin)
seconds, for all senders of the account together. Each send takes a slot in a sorted set of send
times (`ZADD`), after the times older than the window are dropped, in one Lua script: atomic, and
timed by Redis's own clock (`TIME`), so machines whose clocks differ still share one timeline.

Why not a library: pyrate-limiter's RedisBucket stamps each item with the caller's clock (its code
says "TODO: Use a Redis time source"), so two machines a few tens of ms apart break the window, and
it has no shared pause; `limits`' moving window counts whole seconds (RateLimitItemPerSecond), so
the 3% margin cannot be written. Neither pauses every sender on a 429's Retry-After.

When Redis is unreachable nothing is sent: senders retry for `outage_limit` seconds, then the request
fails (ApiError: the entity fails, its load is rolled back). When Redis answers again it may have lost
the log (a restart without persistence), so every sender first waits one whole window: every send made
before the outage has then left the server's window too, and the limit holds across the restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import time
import uuid
from typing import TYPE_CHECKING

from ..errors import ApiError
from ..ratelimit import DEFAULT_RATE, MARGIN, RateLimiter
from . import settings

if TYPE_CHECKING:
    import redis

log = logging.getLogger("acflow.workers")
OUTAGE_LIMIT = 60.0  # seconds a sender waits for Redis to come back before its request fails
OUTAGE_ENV = "ACFLOW_REDIS_OUTAGE_SECONDS"
MARGIN_ENV = "ACFLOW_RATE_MARGIN"  # a wider window than 3% where senders' paths to the API vary more
RETRY_EVERY = 0.5

# KEYS: the send log, the pause key. ARGV: capacity, window (us), a unique member.
# Returns minus the slot's time (us; a slot is taken now) or the microseconds to wait before asking again.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local capacity = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
if now < paused then
  return paused - now
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < capacity then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000) + 1000)
  return -now
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, math.ceil(tonumber(oldest[2]) + window - now))
"""

# KEYS: the send log. ARGV: a member. Its time moves to now (only ever later): when it was written.
_SENT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
return redis.call('ZADD', KEYS[1], 'XX', 'GT', now, ARGV[1])
"""

# KEYS: the pause key. ARGV: seconds (us). Pauses every sender until at least now + seconds.
_PAUSE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local until_ = now + tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if until_ > current then
  redis.call('SET', KEYS[1], string.format('%d', until_), 'PX', math.ceil(tonumber(ARGV[1]) / 1000) + 1000)
end
return until_
"""


class RedisRateLimiter(RateLimiter):
    """`RateLimiter`'s contract (acquire, pause) with the log in Redis, shared by every process."""

    def __init__(self, redis_url: str, account_url: str, rate: float = DEFAULT_RATE, margin: float | None = None,
                 *, outage_limit: float | None = None) -> None:
        super().__init__(rate, float(os.environ.get(MARGIN_ENV, MARGIN)) if margin is None else margin)
        self.redis: redis.Redis = settings.client(redis_url)
        self.redis_url = redis_url
        base = f"{settings.prefix()}rl:{account_url}"  # the URL: never the key
        self.keys = [base, base + ":paused"]
        self.outage_limit = float(os.environ.get(OUTAGE_ENV, OUTAGE_LIMIT)) if outage_limit is None else outage_limit
        self._reserve_script = self.redis.register_script(_RESERVE)
        self._pause_script = self.redis.register_script(_PAUSE)
        self._sent_script = self.redis.register_script(_SENT)
        self._member = uuid.uuid4().hex[:12]
        self._count = 0
        self._lost_at: float | None = None  # when Redis stopped answering
        self.slots: list[int] | None = None  # a list here collects the slots' times (us, Redis's clock): tests

    def _take(self, member: str) -> float:
        """Seconds to wait (0: a slot was taken, named `member`)."""
        answer = int(self._reserve_script(keys=self.keys, args=[self.capacity, math.ceil(self.window * 1e6),
                                                                member]))
        if answer <= 0:
            if self.slots is not None:
                self.slots.append(-answer)
            return 0.0
        return answer / 1e6

    def sent(self, member: str) -> None:
        """The request of slot `member` was written now: its time in the log moves here. Between the
        slot and the write a busy worker's event loop can lose tens of ms, which the server would
        otherwise see as sends closer together than the log says (a 429 at the margin)."""
        import redis

        with contextlib.suppress(redis.RedisError):  # the slot's own time stands; the next acquire sees the outage
            self._sent_script(keys=self.keys[:1], args=[member])

    async def acquire(self, urgent: bool = False) -> str:  # type: ignore[override]
        """Wait for a slot; returns its name for `sent`. `urgent` is not ranked across processes: the
        window is shared by all, first come first served."""
        import redis

        while True:
            paused = self._paused_until - time.monotonic()  # a 429 seen here while Redis was away
            if paused > 0:
                await asyncio.sleep(paused)
                continue
            try:
                if self._lost_at is not None:
                    self.redis.ping()
                    await asyncio.sleep(self.window)  # what Redis forgot has left the server's window too
                    if self._lost_at is not None:
                        log.warning("the rate limiter's Redis answers again (%s)", settings.shown(self.redis_url))
                    self._lost_at = None
                self._count += 1
                member = f"{self._member}:{self._count}"
                wait = self._take(member)
            except redis.RedisError as exc:
                now = time.monotonic()
                if self._lost_at is None:
                    self._lost_at = now
                    log.warning("the rate limiter's Redis (%s) does not answer (%s): nothing is sent until it "
                                "does", settings.shown(self.redis_url), type(exc).__name__)
                elif now - self._lost_at > self.outage_limit:
                    raise ApiError(f"the rate limiter's Redis at {settings.shown(self.redis_url)} did not answer "
                                   f"for {self.outage_limit:g} s: no request was sent meanwhile; check it "
                                   "(ACFLOW_REDIS_URL) and run again") from None
                await asyncio.sleep(RETRY_EVERY)
                continue
            if wait <= 0:
                return member
            await asyncio.sleep(wait)

    def pause(self, seconds: float) -> None:
        """A 429 seen here pauses every process on the account (and this one, even if Redis is down)."""
        import redis

        super().pause(seconds)
        try:
            self._pause_script(keys=self.keys[1:], args=[max(1, math.ceil(seconds * 1e6))])
        except redis.RedisError as exc:
            log.warning("could not share a pause of %.1f s through Redis (%s)", seconds, type(exc).__name__)
