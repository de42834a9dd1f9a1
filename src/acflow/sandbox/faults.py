"""Faults the sandbox injects: small callables composed into a chain.

Each fault looks at one API request (its path and number) and answers a Hit or
None. The chain asks them in order: delays add up, the first failure wins.

    Faults([FailNext(2, "reset", path="contacts"), FailEvery(7, 503), Chance("truncate", 0.01)])

Failure kinds (what a client sees):
    429, 500, 502, 503, 504  that status (429 with Retry-After; 502-504 an HTML gateway page)
    403      {"message": "Forbidden"} without a Content-Type (seen in the wild), only on a key
             that has already been answered once since the last reset: "intermittent", not refused
    reset    the TCP connection is aborted (RST) before any response
    truncate a 200 whose JSON body is cut off half-way (Content-Length matches the cut body)
    cut      a 200 that announces the full Content-Length, sends half and closes the connection
    empty    a 200 with an empty body (b"")
    slow     the normal answer after `slow_seconds` (longer than a client's timeout)
    403-any  a 403 like `403`, but also to a key never answered yet (a refusal on the first request)

Hostile-server kinds: a 200 whose content is odd or broken, as probes of real servers found:
    same-page     a list answered as if no offset, id_greater or id_less had been sent (paging loops)
    total-huge    meta.total is 10^30, an integer no 64-bit number holds
    total-int     meta.total is an integer (as for deals, dealGroups, dealStages)
    total-absent  no meta at all
    deep          the first record gains a field nested 500 objects deep
    bad-utf8      the first record gains a text in Latin-1 (b"caf\\xe9"): not valid UTF-8
    nul           the first record gains a text with a raw NUL byte: not valid JSON

SPEC, for `--faults` and POST /_sandbox/faults: comma-separated `KIND=RULE[@SCOPE]`, where RULE
is a share 0..1 of the requests (failing at seeded random places, see Chance: runs repeat),
`every:N` (each Nth matching request) or `next:N` (the next N matching requests, then never
again), and SCOPE an entity name (`contacts`) or a path prefix (`/api/3/deals`).
`latency=MS` adds MS milliseconds to each matching request.
Example: "429=0.02,503=0.02,403=0.01,reset=0.01,truncate=0.01,empty=0.01,slow=0.005"
or "503=every:7,reset=next:2@contacts".
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from acflow.catalog import find

STATUS_KINDS = ("429", "500", "502", "503", "504", "403", "403-any")
BODY_KINDS = ("truncate", "cut", "empty")
HOSTILE_KINDS = ("same-page", "total-huge", "total-int", "total-absent", "deep", "bad-utf8", "nul")
KINDS = (*STATUS_KINDS, "reset", *BODY_KINDS, "slow", *HOSTILE_KINDS)


@dataclass(frozen=True)
class Request:
    """What a fault may look at: the path, the API request's number (from 1) and whether its key
    has been answered before (only then is a 403 "intermittent" rather than a refused key)."""

    path: str
    number: int
    key_worked: bool = True


@dataclass(frozen=True)
class Hit:
    kind: str | None = None  # a failure kind, or None for a pure delay
    delay: float = 0.0  # seconds added before answering


Fault = Callable[[Request], Hit | None]


def _kind(kind: str | int) -> str:
    k = str(kind).lower()
    if k not in KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; kinds: {', '.join(KINDS)}")
    return k


def _scope(scope: str | None) -> str | None:
    """An entity name or path prefix -> the path prefix it covers."""
    if scope is None or scope.startswith("/"):
        return scope.rstrip("/") if scope else scope
    entity = find(scope)
    if entity is None:
        raise ValueError(f"unknown entity {scope!r} in fault scope; use an entity name or a /path")
    return f"/api/3/{entity.path}"  # a list under parents keeps its {id}: matched as a pattern


def _pattern(prefix: str) -> re.Pattern[str]:
    """A scope with {id} in it (links/{id}/linkData) as a regular expression over paths."""
    return re.compile(re.escape(prefix).replace(re.escape("{id}"), "[^/]+") + "(/.*)?")


class _Scoped:
    kind: str | None = None

    def __init__(self, path: str | None) -> None:
        self.scope = path
        self.prefix = _scope(path)

    def matches(self, path: str) -> bool:
        p = self.prefix
        if p is not None and "{id}" in p:
            return _pattern(p).fullmatch(path) is not None
        return p is None or path == p or path.startswith(p + "/")

    def applies(self, req: Request) -> bool:
        return self.matches(req.path) and (req.key_worked or self.kind != "403")

    def _at(self) -> str:
        return f"@{self.scope}" if self.scope else ""


class Chance(_Scoped):
    """Fails a share `p` of the matching requests at seeded random positions.

    Jittered systematic sampling: exactly one failure at a random place in each successive run
    of 1/p matching requests (for p=0.2, one in each five). The rate is exact and even a short
    run sees its faults, yet clients cannot predict which request fails; runs repeat per seed.
    """

    def __init__(self, kind: str | int, p: float, path: str | None = None, seed: int = 0) -> None:
        super().__init__(path)
        if not 0 <= p <= 1:
            raise ValueError(f"fault probability must be within 0..1, got {p}")
        self.kind, self.p, self.seed = _kind(kind), p, seed
        self.rng = random.Random(f"{seed}:{self.kind}:{path}")
        self.seen = 0
        self.block = 0
        self.fire_at = self._position()

    def _position(self) -> float:
        """Where the current run of 1/p requests fails (a request index; inf when p == 0)."""
        if self.p <= 0:
            return math.inf
        return math.floor((self.block + self.rng.random()) / self.p)

    def __call__(self, req: Request) -> Hit | None:
        if not self.applies(req):
            return None
        n, self.seen = self.seen, self.seen + 1
        if n < self.fire_at:
            return None
        self.block += 1
        self.fire_at = max(self._position(), n + 1)
        return Hit(self.kind)

    def describe(self) -> str:
        return f"{self.kind}={self.p:g}{self._at()}"


class FailEvery(_Scoped):
    """Fails every `n`th matching request (the n-th, 2n-th, ...)."""

    def __init__(self, n: int, kind: str | int = 503, path: str | None = None) -> None:
        super().__init__(path)
        if n < 1:
            raise ValueError(f"every:N needs N >= 1, got {n}")
        self.n, self.kind, self.seen = n, _kind(kind), 0

    def __call__(self, req: Request) -> Hit | None:
        if not self.applies(req):
            return None
        self.seen += 1
        return Hit(self.kind) if self.seen % self.n == 0 else None

    def describe(self) -> str:
        return f"{self.kind}=every:{self.n}{self._at()}"


class FailNext(_Scoped):
    """Fails the next `count` matching requests, then never again."""

    def __init__(self, count: int, kind: str | int = 503, path: str | None = None) -> None:
        super().__init__(path)
        self.count, self.left, self.kind = count, count, _kind(kind)

    def __call__(self, req: Request) -> Hit | None:
        if self.left <= 0 or not self.applies(req):
            return None
        self.left -= 1
        return Hit(self.kind)

    def describe(self) -> str:
        return f"{self.kind}=next:{self.count}{self._at()}"


class Latency(_Scoped):
    """Adds `ms` milliseconds to each matching request (a delay, not a failure)."""

    def __init__(self, ms: float, path: str | None = None) -> None:
        super().__init__(path)
        self.ms = ms

    def __call__(self, req: Request) -> Hit | None:
        return Hit(None, self.ms / 1000) if self.matches(req.path) else None

    def describe(self) -> str:
        return f"latency={self.ms:g}{self._at()}"


class Faults:
    """The chain: asks each fault in order; delays add up, the first failure wins."""

    def __init__(self, faults: Iterable[Fault] = ()) -> None:
        self.faults = list(faults)

    def __bool__(self) -> bool:
        return bool(self.faults)

    def __call__(self, req: Request) -> Hit | None:
        delay, kind = 0.0, None
        for fault in self.faults:
            hit = fault(req)
            if hit is None:
                continue
            delay += hit.delay
            if hit.kind is not None:
                kind = hit.kind
                break
        return Hit(kind, delay) if kind or delay else None

    def describe(self) -> list[str]:
        return [getattr(f, "describe", lambda f=f: repr(f))() for f in self.faults]


def parse_spec(spec: str, seed: int = 0) -> list[Fault]:
    """`"503=0.02,reset=next:2@contacts"` -> [Chance(...), FailNext(...)]; see the module doc."""
    faults: list[Fault] = []
    for item in filter(None, (s.strip() for s in spec.split(","))):
        kind, sep, rest = item.partition("=")
        if not sep:
            raise ValueError(f"fault {item!r} is not KIND=RULE (e.g. 503=0.02 or reset=every:10)")
        rule, _, scope = rest.partition("@")
        kind, rule, path = kind.strip().lower(), rule.strip().lower(), scope.strip() or None

        def number(text: str, cast: type, item: str = item) -> float:
            try:
                return cast(text)
            except ValueError:
                raise ValueError(f"fault {item!r}: expected a probability, every:N or next:N") from None

        if kind == "latency":
            faults.append(Latency(number(rule, float), path))
        elif rule.startswith("every:"):
            faults.append(FailEvery(int(number(rule[6:], int)), kind, path))
        elif rule.startswith("next:"):
            faults.append(FailNext(int(number(rule[5:], int)), kind, path))
        else:
            faults.append(Chance(kind, number(rule, float), path, seed))
    return faults
