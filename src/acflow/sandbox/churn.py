"""Records that change while clients read: creates, updates and deletes at a steady rate.

`--churn "contacts=20,deals=5"` mutates 20 contacts and 5 deals per second, a
seeded mix of creates (new, higher ids), updates (a bumped update time and a
changed field), hard deletes and, where the entity has a soft-delete flag,
soft deletes. Offset paging over such a set skips and repeats records, which is
the drift clients have to cope with.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping

import numpy as np

from acflow.catalog import find
from acflow.sandbox.gen import salt_of

TICK = 0.05  # seconds between batches
MIX = {"create": 0.3, "update": 0.45, "delete": 0.1, "soft_delete": 0.15}


def parse_churn(spec: str | Mapping[str, float] | None) -> dict[str, float]:
    """`"contacts=20,deals=5"` -> {"contacts": 20.0, "deals": 5.0} (entity names or aliases)."""
    if not spec:
        return {}
    items = spec.items() if isinstance(spec, Mapping) else (
        tuple(part.split("=", 1)) if "=" in part else (part, "") for part in spec.split(",") if part.strip())
    out: dict[str, float] = {}
    for name, rate in items:
        entity = find(str(name).strip())
        if entity is None:
            raise ValueError(f"unknown entity {name!r} in churn; use e.g. contacts=20,deals=5")
        try:
            value = float(rate)
        except ValueError:
            raise ValueError(f"churn rate of {name} must be mutations/second, got {rate!r}") from None
        if value < 0:
            raise ValueError(f"churn rate of {name} must be >= 0, got {value}")
        out[entity.name] = value
    return out


class Churn:
    """Calls `mutate(entity, create=.., update=.., delete=.., soft_delete=..)` at the set rates."""

    def __init__(self, rates: Mapping[str, float], seed: int, soft: Callable[[str], bool],
                 mutate: Callable[..., object]) -> None:
        self.rates = dict(rates)
        self.soft = soft
        self.mutate = mutate
        self.rng = np.random.default_rng([seed, salt_of("churn")])
        self.due = dict.fromkeys(self.rates, 0.0)

    def step(self, elapsed: float) -> None:
        kinds = list(MIX)
        for name, rate in self.rates.items():
            self.due[name] += rate * elapsed
            n = int(self.due[name])
            if n <= 0:
                continue
            self.due[name] -= n
            weights = np.array([MIX[k] if k != "soft_delete" or self.soft(name) else 0.0 for k in kinds])
            counts = self.rng.multinomial(n, weights / weights.sum())
            self.mutate(name, **dict(zip(kinds, counts.tolist(), strict=True)))

    async def run(self) -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(TICK)
            now = time.monotonic()
            self.step(now - last)
            last = now
