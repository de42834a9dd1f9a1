"""The account's rate limit and the server-side record of what arrived when.

ActiveCampaign allows 5 requests per second per account, shared by all its
keys. The sandbox enforces it as a sliding window: a request is served when
fewer than `capacity` requests were served in the last `window` seconds.
Refused requests do not use up the window. Separately, every API request that
arrives is timed so tests can ask for the most that ever arrived within one
second (`max_in_any_second`) and check a client kept to the limit.
"""

from __future__ import annotations

import math
from collections import Counter, deque


class SlidingWindow:
    """`rps` requests per second over a sliding window; 0 turns the limit off."""

    def __init__(self, rps: float = 5.0) -> None:
        self.set(rps)

    def set(self, rps: float) -> None:
        if rps < 0:
            raise ValueError(f"rate limit must be >= 0 requests/second, got {rps}")
        self.rps = rps
        # 5/s is 5 per 1 s; 0.5/s is 1 per 2 s; 2.5/s is 2 per 0.8 s
        self.capacity = max(1, math.floor(rps)) if rps else 0  # as the client counts (ratelimit.py)
        self.window = self.capacity / rps if rps else 1.0
        self.served: deque[float] = deque()

    @property
    def enabled(self) -> bool:
        return self.rps > 0

    def acquire(self, now: float) -> tuple[bool, int, int]:
        """(allowed, retry-after seconds, remaining in the window after this request)."""
        served = self.served
        while served and now - served[0] >= self.window:
            served.popleft()
        if len(served) < self.capacity:
            served.append(now)
            return True, 0, self.capacity - len(served)
        return False, max(1, math.ceil(served[0] + self.window - now)), 0


class Stats:
    """What the server saw since start or the last reset (GET /_sandbox/stats)."""

    def __init__(self) -> None:
        self.arrived = 0  # API requests that reached the server
        self.requests = 0  # served: got past the rate limit (faults included)
        self.rate_limited = 0  # refused for the rate limit, not served
        self.faults: Counter[str] = Counter()
        self.by_path: Counter[str] = Counter()
        self.by_status: Counter[int] = Counter()
        self.mutations = 0  # records changed by mutate and churn
        self.mutations_by: Counter[str] = Counter()  # "contacts.created": 3, ...
        self.max_in_any_second = 0
        self._recent: deque[float] = deque()

    def arrive(self, now: float) -> None:
        self.arrived += 1
        recent = self._recent
        recent.append(now)
        while now - recent[0] >= 1.0:
            recent.popleft()
        if len(recent) > self.max_in_any_second:
            self.max_in_any_second = len(recent)

    def served(self, label: str) -> int:
        self.requests += 1
        if label in self.by_path or len(self.by_path) < 1000:
            self.by_path[label] += 1
        else:
            self.by_path["(other)"] += 1
        return self.requests

    def mutated(self, what: str, count: int) -> None:
        self.mutations += count
        self.mutations_by[what] += count

    def to_dict(self) -> dict[str, object]:
        return {
            "arrived": self.arrived,
            "requests": self.requests,
            "rate_limited": self.rate_limited,
            "max_in_any_second": self.max_in_any_second,
            "faults": dict(self.faults),
            "by_path": dict(self.by_path),
            "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
            "mutations": self.mutations,
            "mutations_by": dict(self.mutations_by),
        }
