"""The sandbox's HTTP side: an aiohttp low-level server speaking ActiveCampaign API v3.

Every API request goes through the same steps, in the order a real account
applies them: arrival is timed (stats), the rate limit may refuse it (429, or
503 on some accounts), faults may break it, latency delays it, the Api-Token
header picks the user, and the route answers. Routes are generated from the
catalog: `/api/3/{path}` lists, `/api/3/{path}/{id}` one record, plus
`/api/3/users/me`, a record's custom field values (`/api/3/contacts/{id}/fieldValues`) and the
lists the catalog has under each record of another (`/api/3/links/{id}/linkData`).
Control endpoints under `/_sandbox/` skip all of that.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import ipaddress
import random
import re
import socket
import struct
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import orjson
from aiohttp import web
from yarl import URL

from acflow.catalog import CATALOG, Access
from acflow.custom_fields import SETS, field_set
from acflow.sandbox.churn import Churn, parse_churn
from acflow.sandbox.clock import DEFAULT_ZONE, USER_ZONE
from acflow.sandbox.control import Control
from acflow.sandbox.faults import HOSTILE_KINDS, STATUS_KINDS, Fault, Faults, Hit, Request, parse_spec
from acflow.sandbox.limits import SlidingWindow, Stats
from acflow.sandbox.listing import BadParameter, parse_query, select
from acflow.sandbox.profile import Principal, Profile
from acflow.sandbox.world import PROFILES, World

ADMIN_KEY = "sandbox-admin-key"
RESTRICTED_KEY = "sandbox-restricted-key"
DEFAULT_PORT = 8765
API = "/api/3/"
ME = "/api/3/users/me"  # the key's own user
OF = "of:"  # a route's record id that is the owner of a list: /contacts/3/fieldValues
JSON = "application/json"

_FORBIDDEN = b'{"message":"Forbidden"}'
_GATEWAY = {  # what the proxy in front of the API answers
    "502": b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway"
           b"</h1></center><hr><center>cloudflare</center></body></html>",
    "503": b"<html><head><title>503 Service Temporarily Unavailable</title></head><body><center>"
           b"<h1>503 Service Temporarily Unavailable</h1></center></body></html>",
    "504": b"<html><head><title>504 Gateway Time-out</title></head><body><center><h1>504 Gateway"
           b" Time-out</h1></center><hr><center>cloudflare</center></body></html>",
}


@dataclass
class Config:
    """Everything `acflow sandbox serve` and `Sandbox(...)` take; reset() returns to it."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    seed: int = 1
    sizes: Mapping[str, int] | None = None
    latency_ms: float = 0.0
    jitter: float = 0.2  # latency varies by +-20%
    rate_limit: float = 5.0  # requests/second for the whole account; 0 = off
    rate_limit_status: int = 429  # or 503, as some accounts answer
    faults: str | list[Fault] | None = None
    slow_seconds: float = 30.0  # how long a `slow` fault holds the answer
    churn: str | Mapping[str, float] | None = None
    admin_key: str = ADMIN_KEY
    restricted_key: str = RESTRICTED_KEY
    timezone: str = DEFAULT_ZONE
    restricted_denied: tuple[str, ...] = field(default_factory=tuple)  # entities the restricted key gets 403 on
    cache_mb: int = 256  # rendered-bytes cache per entity
    # The admin key's user lives in another zone than the account, as on real accounts (reference 8.1):
    # its localZoneid must never be taken for the zone of the account's dates.
    user_timezone: str | None = USER_ZONE
    # Whether a change of a custom field value (mutate or edit of fieldValues...) moves its record's
    # update time (a contact's udate). ActiveCampaign does not document it; a sync must be right either way.
    value_bumps_record: bool = True
    # More accounts in the same process, each under its own path prefix (/acct/NAME, an API URL of
    # its own): own data (seed + its number), keys (NAME-admin-key), rate limit and stats
    accounts: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.rate_limit_status not in (429, 503):
            raise ValueError(f"rate_limit_status must be 429 or 503, got {self.rate_limit_status}")
        parse_churn(self.churn)  # fail early on a bad spec
        for name in self.restricted_denied:
            if name not in CATALOG:
                raise ValueError(f"unknown entity {name!r} in restricted_denied")


TENANT = "/acct/"  # the path prefix of the accounts beside the first (Config.accounts)


def tenant_config(config: Config, number: int, name: str) -> Config:
    """Account `name` of a many-account sandbox: the first account's settings, its own seed and keys."""
    if not NAME.fullmatch(name):
        raise ValueError(f"sandbox account name {name[:60]!r} must be letters, digits, _ or -")
    return replace(config, seed=config.seed + number + 1, admin_key=f"{name}-admin-key",
                   restricted_key=f"{name}-restricted-key", accounts=(), faults=None, churn=None)


NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _message(text: str) -> bytes:
    return orjson.dumps({"message": text})


class SandboxServer:
    """Serves one sandbox account; all state lives on the event loop's thread."""

    def __init__(self, config: Config) -> None:
        self.initial = config
        self.url = ""
        self.port = 0
        self._runner: web.ServerRunner | None = None
        self._churn_task: asyncio.Task | None = None
        self.lists = {API + p.entity.path: p for p in PROFILES.values() if "{id}" not in p.entity.path}
        self.singles = {p.entity.path: p for p in PROFILES.values() if "{id}" not in p.entity.path}
        # a record's custom field values, as its `links` name them: /contacts/3/fieldValues
        self.subs = {(CATALOG[fs.parent].path, CATALOG[fs.data].path): PROFILES[fs.data]
                     for fs in SETS.values() if field_set(fs.parent) is not None}
        # entities listed under each record of another (links/{id}/linkData), as the catalog says
        self.subs.update({tuple(p.entity.path.split("/{id}/")): p for p in PROFILES.values()
                          if "/{id}/" in p.entity.path})
        self._install(config, World(config.seed, config.sizes, config.timezone, cache_mb=config.cache_mb,
                                    user_zone=config.user_timezone))
        self.tenants: dict[str, SandboxServer] = {
            name: SandboxServer(tenant_config(config, i, name)) for i, name in enumerate(config.accounts)}

    # ---- state -------------------------------------------------------------------------------
    def _install(self, config: Config, world: World) -> None:
        self.config = config
        self.world = world
        if self.url:
            world.set_base_url(self.url)
        self.stats = Stats()
        self.answered: set[str] = set()  # keys that got a 200 since the last reset
        self.limiter = SlidingWindow(config.rate_limit)
        self.rng = random.Random(config.seed)
        self.set_faults(config.faults)
        self.keys = {config.admin_key: Principal("admin", 1, True),
                     config.restricted_key: Principal("restricted", 2, False)}
        self.set_churn(config.churn)

    async def reset(self, seed: int | None = None, sizes: Mapping[str, int] | None = None) -> None:
        """Back to the start-up configuration (seed data, settings, faults, churn), stats zeroed;
        `seed`/`sizes` override the start-up ones for this reset only."""
        config = replace(self.initial, seed=self.initial.seed if seed is None else seed,
                         sizes=self.initial.sizes if sizes is None else sizes)
        world = await asyncio.to_thread(World, config.seed, config.sizes, config.timezone,
                                        self.url or "http://127.0.0.1", config.cache_mb, config.user_timezone)
        self._install(config, world)
        for tenant in self.tenants.values():  # each back to its own start-up data
            await tenant.reset(None, sizes)

    def set_faults(self, faults: str | list[Fault] | None, slow_seconds: float | None = None) -> list[str]:
        """A SPEC string or fault callables (copied, so a reset starts them afresh); None clears."""
        faults = parse_spec(faults, self.config.seed) if isinstance(faults, str) else copy.deepcopy(faults)
        self.faults = Faults(faults or [])
        if slow_seconds is not None:
            self.config = replace(self.config, slow_seconds=float(slow_seconds))
        return self.faults.describe()

    def set_rate_limit(self, rps: float, status: int | None = None) -> None:
        if status not in (None, 429, 503):
            raise ValueError(f"rate_limit_status must be 429 or 503, got {status}")
        self.config = replace(self.config, rate_limit=rps,
                              rate_limit_status=self.config.rate_limit_status if status is None else status)
        self.limiter.set(rps)

    def set_latency(self, ms: float, jitter: float | None = None) -> None:
        if ms < 0:
            raise ValueError(f"latency must be >= 0 ms, got {ms}")
        self.config = replace(self.config, latency_ms=ms, jitter=self.config.jitter if jitter is None else jitter)

    def set_churn(self, spec: str | Mapping[str, float] | None) -> dict[str, float]:
        rates = parse_churn(spec)
        if self._churn_task is not None:
            self._churn_task.cancel()
            self._churn_task = None
        self.churn = Churn(rates, self.config.seed, lambda n: bool(CATALOG[n].deleted_flag), self.mutate)
        if rates and self._runner is not None:
            self._churn_task = asyncio.get_running_loop().create_task(self.churn.run())
        return rates

    def _bump_owners(self, entity: str, ids: list[int]) -> None:
        """Contacts' custom field values changed: the contacts' udate moves too, if the setting says so
        (values read with their records' incremental read, catalog.Via; deals' and accounts' are not)."""
        fs = next((f for f in SETS.values() if f.data == entity and CATALOG[entity].via is not None), None)
        if not self.config.value_bumps_record or fs is None or not ids or fs.parent not in self.world.tables:
            return
        values, parents = self.world.tables[entity], self.world.tables[fs.parent]
        column = next((c for c in (fs.owner, "contact", "record") if c in values.aux), None)
        if column is None:
            return
        at = np.searchsorted(values.ids[: values.n], np.array(ids, dtype=np.int64))
        owners = values.aux[column][np.clip(at, 0, max(values.n - 1, 0))]
        rows = [r for r in (parents.row_of(int(o)) for o in set(owners.tolist())) if r is not None]
        if rows:
            parents.touch(np.array(sorted(rows), dtype=np.int64), self.world.clock.now())
            for other, p in PROFILES.items():
                if fs.parent in p.depends:
                    self.world.tables[other].changed()

    def mutate(self, entity: str, **counts: int) -> dict[str, object]:
        done = self.world.mutate(entity, **counts)
        self._bump_owners(str(done["entity"]), [*done["created"], *done["updated"], *done["deleted"]])  # type: ignore[misc]
        for kind in ("created", "updated", "deleted", "soft_deleted"):
            if done[kind]:
                self.stats.mutated(f"{done['entity']}.{kind}", len(done[kind]))  # type: ignore[arg-type]
        return done

    def edit(self, entity: str, **changes: Any) -> dict[str, object]:
        done = self.world.edits.edit(self.world, entity, **changes)
        self._bump_owners(done["entity"], [*done["created"], *done["updated"], *done["deleted"]])
        for kind in ("created", "updated", "deleted"):
            if done[kind]:
                self.stats.mutated(f"{done['entity']}.{kind}", len(done[kind]))
        return done

    def settings(self) -> dict[str, Any]:
        c = self.config
        return {"rate_limit": c.rate_limit, "rate_limit_status": c.rate_limit_status,
                "latency_ms": c.latency_ms, "jitter": c.jitter, "slow_seconds": c.slow_seconds,
                "faults": self.faults.describe(), "churn": self.churn.rates, "seed": c.seed,
                "sizes": self.world.sizes, "timezone": c.timezone, "user_timezone": c.user_timezone,
                "value_bumps_record": c.value_bumps_record}

    def set_value_bumps_record(self, on: bool) -> None:
        self.config = replace(self.config, value_bumps_record=bool(on))

    # ---- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        self.control = Control(self)
        family = socket.AF_INET6 if ":" in self.config.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.config.host, self.config.port))
        # a short shutdown: a handler held by a `slow` fault must not keep stop() waiting
        self._runner = web.ServerRunner(web.Server(self.handle, access_log=None), handle_signals=False,
                                        shutdown_timeout=1.0)
        await self._runner.setup()
        await web.SockSite(self._runner, sock, backlog=1024).start()
        self.port = sock.getsockname()[1]
        self.url = f"http://{_url_host(self.config.host)}:{self.port}"
        self.world.set_base_url(self.url)
        self.set_churn(self.churn.rates)
        for name, tenant in self.tenants.items():
            tenant.control = Control(tenant)
            tenant.port, tenant.url = self.port, f"{self.url}{TENANT}{name}"
            tenant.world.set_base_url(tenant.url)

    async def stop(self) -> None:
        if self._churn_task is not None:
            self._churn_task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ---- the API ---------------------------------------------------------------------------------
    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        path = request.path
        if path.startswith(TENANT) and self.tenants:
            return await self._tenant(request)
        if path.startswith("/_sandbox"):
            return await self.control.handle(request)
        now = time.monotonic()
        stats = self.stats
        stats.arrive(now)
        limiter = self.limiter
        allowed, retry_after, remaining = limiter.acquire(now) if limiter.enabled else (True, 0, 0)
        if not allowed:
            stats.rate_limited += 1
            await self._delay(0.0)
            return self._limited(self.config.rate_limit_status, retry_after)
        profile, single, label = self._route(path)
        number = stats.served(label)
        hit: Hit | None = None
        if self.faults:
            hit = self.faults(Request(path, number, request.headers.get("Api-Token") in self.answered))
        kind = hit.kind if hit else None
        if kind:
            stats.faults[kind] += 1
        await self._delay((hit.delay if hit else 0.0) + (self.config.slow_seconds if kind == "slow" else 0.0))
        if kind in STATUS_KINDS:
            return self._fault_status(request, kind)  # type: ignore[arg-type]
        if kind == "reset":
            return _reset(request)
        status, body = self._answer(request, path, profile, single, same_page=kind == "same-page")
        if status == 200 and kind in HOSTILE_KINDS and single is None:
            body = _hostile(kind, profile.entity.key, body)  # type: ignore[union-attr]
        if status == 200 and len(self.answered) < len(self.keys):
            self.answered.add(request.headers.get("Api-Token", ""))
        if kind in ("truncate", "cut", "empty"):
            return await self._mangled(request, kind, status, body)
        stats.by_status[status] += 1
        headers = {"Content-Type": JSON}
        if limiter.enabled:
            headers["RateLimit-Limit"] = str(limiter.capacity)
            headers["RateLimit-Remaining"] = str(remaining)
        return web.Response(body=body, status=status, headers=headers)

    async def _tenant(self, request: web.BaseRequest) -> web.StreamResponse:
        """/acct/NAME/api/3/... is account NAME's /api/3/... (its control endpoints too)."""
        name, _, rest = request.rel_url.raw_path[len(TENANT):].partition("/")
        tenant = self.tenants.get(name)
        if tenant is None:
            return web.Response(body=_message(f"No sandbox account {name[:60]!r}"), status=404,
                                headers={"Content-Type": JSON})
        url = URL.build(path="/" + rest, query_string=request.rel_url.raw_query_string, encoded=True)
        return await tenant.handle(request.clone(rel_url=url))

    def _route(self, path: str) -> tuple[Profile | None, str | None, str]:
        """(profile, record id or None, stats label) of an API path; profile None if unknown."""
        path = path.rstrip("/") or "/"
        profile = self.lists.get(path)
        if profile is not None:
            return profile, None, path
        if path == ME:
            return PROFILES["users"], "me", path
        if path.startswith(API):
            head, _, tail = path[len(API):].partition("/")
            profile = self.singles.get(head)
            if profile is not None and tail and "/" not in tail:
                return profile, tail, f"{API}{head}/{{id}}"
            record, _, sub = tail.partition("/")
            if (head, sub) in self.subs and record.isdigit():
                return self.subs[head, sub], f"{OF}{record}", f"{API}{head}/{{id}}/{sub}"
        return None, None, path

    def _answer(self, request: web.BaseRequest, path: str, profile: Profile | None,
                single: str | None, same_page: bool = False) -> tuple[int, bytes]:
        who = self.keys.get(request.headers.get("Api-Token", ""))
        if who is None:
            return 403, _FORBIDDEN
        if profile is None:
            return 404, _message("Not Found")
        if request.method not in ("GET", "HEAD"):
            return 405, _message(f"The sandbox is read-only: {request.method} {path} is not served; "
                                 "change data with POST /_sandbox/mutate")
        if not who.admin and (profile.name in self.config.restricted_denied
                              or profile.entity.access is Access.ADMIN):
            return 403, orjson.dumps({"errors": [{"status": 403, "title": "Forbidden",
                                                  "detail": f"You do not have permission to view "
                                                            f"{profile.entity.path}."}]})
        if single is None or single.startswith(OF):
            return self._list(profile, request, who, same_page, None if single is None else int(single[len(OF):]))
        return self._one(profile, str(who.user_id) if single == "me" else single, who)

    def _list(self, profile: Profile, request: web.BaseRequest, who: Principal,
              same_page: bool = False, owner: int | None = None) -> tuple[int, bytes]:
        query = {k: request.query.getone(k) for k in request.query
                 if not (same_page and k in ("offset", "id_greater", "id_less"))}
        try:
            q = parse_query(profile, query)
        except BadParameter as e:
            return 400, orjson.dumps({"errors": [{"title": f"Invalid value for query parameter {e.parameter}",
                                                  "detail": str(e), "source": {"parameter": e.parameter}}]})
        world, table = self.world, self.world.tables[profile.name]
        if owner is not None and profile.parent_column:  # a list under one parent record
            q = replace(q, parent=owner)
        rows = select(world, profile, table, q, who)
        if owner is not None and not profile.parent_column:  # one record's custom field values
            rows = world.edits.owned(world, profile.name, rows, owner)
        page = rows[q.offset:q.offset + q.limit]
        bodies = self._records(profile, page, who)
        sideloads = profile.sideloads(world, table, page, who)
        for name in (query.get("include") or "").split(","):
            included = self._included(profile, name.strip(), page, who)
            if included is not None:  # each record names its side-loaded ids; the records come beside
                bodies = [orjson.dumps({**orjson.loads(b), name.strip(): [str(i) for i in ids]})
                          for b, ids in zip(bodies, included[1], strict=True)]
                sideloads = {name.strip(): included[0], **sideloads}
        records = b"[" + b",".join(bodies) + b"]"
        meta = profile.meta(world, table, rows, query)  # None: this endpoint sends no meta
        return 200, _envelope(sideloads, profile.entity.key, records, None if meta is None else orjson.dumps(meta))

    def _included(self, profile: Profile, name: str, page: np.ndarray,
                  who: Principal) -> tuple[list[bytes], list[list[int]]] | None:
        """`include=fieldValues` on /contacts: every value of the page's records (rendered) and each
        record's value ids; None for an include the sandbox does not serve, or the key may not read."""
        data = self.subs.get((profile.entity.path, name))
        fs = next((f for f in SETS.values() if f.parent == profile.name and data is not None
                   and f.data == data.name), None)
        if fs is None or data is None or (not who.admin and data.name in self.config.restricted_denied):
            return None
        world = self.world
        values = world.tables[data.name]
        column = next((c for c in (fs.owner, "contact", "record") if c in values.aux), None)
        owners = world.tables[profile.name].ids[page]
        if column is None or not len(page):
            return [], [[] for _ in range(len(page))]
        alive = values.alive_rows()
        order, keys = values.memo(("by-owner", column), lambda: _by_owner(values.aux[column], alive))  # type: ignore[misc]
        lo, hi = np.searchsorted(keys, owners, side="left"), np.searchsorted(keys, owners, side="right")
        per = [order[a:b] for a, b in zip(lo.tolist(), hi.tolist(), strict=True)]
        rows = np.concatenate(per) if per else np.array([], dtype=np.int64)
        return world.render(data.name, rows), [values.ids[r].tolist() for r in per]

    def _one(self, profile: Profile, record_id: str, who: Principal) -> tuple[int, bytes]:
        world, table = self.world, self.world.tables[profile.name]
        row = table.row_of(int(record_id)) if record_id.isdigit() else None
        hidden = profile.hidden(world, table, who) if row is not None else None
        if row is None or (hidden is not None and hidden[row]):
            return profile.missing_status, _message(f"No Result found for {profile.noun} with id {record_id}")
        record = self._records(profile, np.array([row], dtype=np.int64), who)[0]
        return 200, _envelope(profile.single_sideloads(), profile.entity.single, record)

    def _records(self, profile: Profile, page: np.ndarray, who: Principal) -> list[bytes]:
        """The rows' JSON, reduced to stubs where this user may not see them."""
        bodies = self.world.render(profile.name, page)
        stubs = profile.stubbed(self.world, self.world.tables[profile.name], page, who)
        if stubs is not None:
            for i in stubs.nonzero()[0].tolist():
                bodies[i] = orjson.dumps(profile.stub(orjson.loads(bodies[i])))
        return bodies

    # ---- answers that are not the record ----------------------------------------------------------
    async def _delay(self, extra: float) -> None:
        ms = self.config.latency_ms
        seconds = extra + (ms * self.rng.uniform(1 - self.config.jitter, 1 + self.config.jitter) / 1000
                           if ms else 0.0)
        if seconds > 0:
            await asyncio.sleep(seconds)

    def _limited(self, status: int, retry_after: int) -> web.Response:
        self.stats.by_status[status] += 1
        headers = {"Retry-After": str(retry_after), "RateLimit-Limit": str(max(self.limiter.capacity, 5)),
                   "RateLimit-Remaining": "0"}
        if status == 503:
            return web.Response(body=_GATEWAY["503"], status=503,
                                headers={**headers, "Content-Type": "text/html"})
        return web.Response(body=_message("Too Many Requests"), status=status,
                            headers={**headers, "Content-Type": JSON})

    def _fault_status(self, request: web.BaseRequest, kind: str) -> web.StreamResponse:
        if kind == "429":
            return self._limited(429, 1)
        status = int(kind[:3])
        self.stats.by_status[status] += 1
        if kind in ("403", "403-any"):  # a valid key refused; the body came without a Content-Type
            return _raw(request, b"403 Forbidden", _FORBIDDEN)
        if kind in _GATEWAY:
            return web.Response(body=_GATEWAY[kind], status=status, headers={"Content-Type": "text/html"})
        return web.Response(body=_message("Internal Server Error"), status=status,
                            headers={"Content-Type": JSON})

    async def _mangled(self, request: web.BaseRequest, kind: str, status: int, body: bytes) -> web.StreamResponse:
        half = body[: max(1, len(body) // 2)]
        if kind == "empty":
            self.stats.by_status[200] += 1
            return web.Response(body=b"", status=200, headers={"Content-Type": JSON})
        self.stats.by_status[status] += 1
        if kind == "truncate":
            return web.Response(body=half, status=status, headers={"Content-Type": JSON})
        response = web.StreamResponse(status=status, headers={"Content-Type": JSON})
        response.content_length = len(body)
        await response.prepare(request)
        await response.write(half)
        transport = request.transport
        if transport is not None:
            transport.close()  # sends what was written, then FIN: the body stops short
        return response


def _by_owner(owner: np.ndarray, alive: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Live rows sorted by owner (then row), and their owners: each record's rows are one slice."""
    order = alive[np.argsort(owner[alive], kind="stable")]
    return order, owner[order]


def _envelope(sideloads: Mapping[str, list], key: str, value: bytes, meta: bytes | None = None) -> bytes:
    """`{"<sideload>": [...], ..., "<key>": value, "meta": meta}` from pre-rendered parts."""
    parts = [b"{"]
    for name, items in sideloads.items():
        rendered = (i if isinstance(i, bytes) else orjson.dumps(i) for i in items)
        parts += [b'"', name.encode(), b'":[', b",".join(rendered), b"],"]
    parts += [b'"', key.encode(), b'":', value]
    if meta is not None:
        parts += [b',"meta":', meta]
    parts.append(b"}")
    return b"".join(parts)


_HUGE = b"1" + b"0" * 30  # 10^30: no 64-bit integer holds it
_DEEP = b'{"level":' * 500 + b"1" + b"}" * 500
_ODD = {"deep": _DEEP, "bad-utf8": b'"caf\xe9"', "nul": b'"a\x00b"'}


def _hostile(kind: str, key: str, body: bytes) -> bytes:
    """A list answer made odd or broken the way `kind` says (see faults.py); bytes are spliced in
    because orjson writes neither 10^30, nor 500 levels, nor invalid UTF-8."""
    data = orjson.loads(body)
    if kind == "total-absent":
        data.pop("meta", None)
    elif kind in ("total-int", "total-huge") and isinstance(data.get("meta"), dict):
        total = data["meta"].get("total")
        data["meta"]["total"] = int(total) if kind == "total-int" and total is not None else "@@ODD@@"
    elif kind in _ODD and data.get(key):
        data[key][0]["hostile"] = "@@ODD@@"
    return orjson.dumps(data).replace(b'"@@ODD@@"', _ODD.get(kind, _HUGE), 1)


def _reset(request: web.BaseRequest) -> web.StreamResponse:
    """Abort the connection with a TCP RST and no answer."""
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    return web.Response()


def _raw(request: web.BaseRequest, status_line: bytes, body: bytes) -> web.StreamResponse:
    """Write an answer by hand (aiohttp always adds a Content-Type) and close the connection."""
    transport = request.transport
    if transport is not None:
        transport.write(b"HTTP/1.1 %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                        % (status_line, len(body), body))
        transport.close()
    return web.Response()


def _url_host(host: str) -> str:
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    with contextlib.suppress(ValueError):
        if ipaddress.ip_address(host).version == 6:
            return f"[{host}]"
    return host
