"""Control endpoints under /_sandbox/: ask the sandbox what happened, or change it.

They need no key and are neither rate limited nor counted in the stats. In a many-account sandbox
each account has its own under its prefix: /acct/NAME/_sandbox/stats, .../snapshot/{entity}, ...

    GET    /_sandbox/stats               requests, rate_limited, faults, by_path, max_in_any_second...
                                         (and, with --more-accounts, each account's under "accounts")
    POST   /_sandbox/mutate              {"entity": "contacts", "create": 2, "update": 3, "delete": 1,
                                          "soft_delete": 1} -> the ids of each (ints)
    POST   /_sandbox/edit                {"entity": "fields", "create": [{"title": "Plan", "type": "date"}],
                                          "update": [{"id": 9, "title": "Tier"}], "delete": [9]} (edits.py)
    GET    /_sandbox/snapshot/{entity}   [{"id": 1, "updated": "2025-03-01T12:00:00+00:00"|null}, ...]
    POST   /_sandbox/reset               {} or {"seed": 2, "sizes": {"contacts": 50}}
    GET    /_sandbox/faults              the active faults
    POST   /_sandbox/faults              {"spec": "503=every:7", "slow_seconds": 5}; "" clears
    DELETE /_sandbox/faults              clears them
    GET    /_sandbox/settings            rate limit, latency, churn...
    POST   /_sandbox/settings            {"rate_limit": 5, "rate_limit_status": 503, "latency_ms": 50,
                                          "jitter": 0.2, "churn": "contacts=20",
                                          "value_bumps_record": false}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

if TYPE_CHECKING:
    from acflow.sandbox.server import SandboxServer

ENDPOINTS = [line.strip() for line in (__doc__ or "").splitlines() if line.strip().startswith(("GET", "POST",
                                                                                                "DELETE"))]


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, headers={"Content-Type": "application/json"})


class Control:
    def __init__(self, server: SandboxServer) -> None:
        self.server = server

    async def handle(self, request: web.BaseRequest) -> web.Response:
        try:
            return await self._dispatch(request)
        except (ValueError, TypeError) as e:  # bad JSON (orjson.JSONDecodeError is one) or values
            return _json({"error": str(e)}, 400)

    async def _dispatch(self, request: web.BaseRequest) -> web.Response:
        server = self.server
        method, path = request.method, request.path.rstrip("/")
        body: dict[str, Any] = {}
        if method == "POST" and request.can_read_body:
            raw = await request.read()
            body = orjson.loads(raw) if raw.strip() else {}
            if not isinstance(body, dict):
                raise ValueError("the request body must be a JSON object")
        if path == "/_sandbox":
            return _json({"endpoints": ENDPOINTS, "url": server.url})
        if path == "/_sandbox/stats" and method == "GET":
            stats = server.stats.to_dict()
            if server.tenants:  # the other accounts' own, in short (each in full at /acct/NAME/_sandbox/stats)
                stats["accounts"] = {name: {k: t.stats.to_dict()[k] for k in ("requests", "rate_limited",
                                                                               "max_in_any_second")}
                                     for name, t in server.tenants.items()}
            return _json(stats)
        if path == "/_sandbox/mutate" and method == "POST":
            entity = str(body.pop("entity", ""))
            unknown = set(body) - {"create", "update", "delete", "soft_delete"}
            if unknown:
                raise ValueError(f"unknown mutate keys {sorted(unknown)}; use create, update, delete, soft_delete")
            return _json(server.mutate(entity, **{k: int(v) for k, v in body.items()}))
        if path == "/_sandbox/edit" and method == "POST":
            entity = str(body.pop("entity", ""))
            unknown = set(body) - {"create", "update", "delete"}
            if unknown:
                raise ValueError(f"unknown edit keys {sorted(unknown)}; use create, update, delete")
            if not all(isinstance(v, list) for v in body.values()):
                raise ValueError("create, update and delete each take a list")
            return _json(server.edit(entity, **body))
        if path.startswith("/_sandbox/snapshot/") and method == "GET":
            return _json(server.world.snapshot(path.rsplit("/", 1)[1]))
        if path == "/_sandbox/reset" and method == "POST":
            await server.reset(body.get("seed"), body.get("sizes"))
            return _json({"reset": True, "seed": server.config.seed, "sizes": server.world.sizes})
        if path == "/_sandbox/faults":
            if method == "POST":
                server.set_faults(body.get("spec") or None, body.get("slow_seconds"))
            elif method == "DELETE":
                server.set_faults(None)
            return _json({"faults": server.faults.describe(), "slow_seconds": server.config.slow_seconds})
        if path == "/_sandbox/settings":
            if method == "POST":
                self._settings(body)
            return _json(server.settings())
        return _json({"error": f"no control endpoint {method} {request.path}", "endpoints": ENDPOINTS}, 404)

    def _settings(self, body: dict[str, Any]) -> None:
        server = self.server
        unknown = set(body) - {"rate_limit", "rate_limit_status", "latency_ms", "jitter", "churn", "slow_seconds",
                               "value_bumps_record"}
        if unknown:
            raise ValueError(f"unknown settings {sorted(unknown)}")
        if "rate_limit" in body or "rate_limit_status" in body:
            status = body.get("rate_limit_status")
            server.set_rate_limit(float(body.get("rate_limit", server.config.rate_limit)),
                                  None if status is None else int(status))
        if "latency_ms" in body or "jitter" in body:
            jitter = body.get("jitter")
            server.set_latency(float(body.get("latency_ms", server.config.latency_ms)),
                               None if jitter is None else float(jitter))
        if "churn" in body:
            server.set_churn(body["churn"])
        if "value_bumps_record" in body:
            server.set_value_bumps_record(bool(body["value_bumps_record"]))
        if "slow_seconds" in body:
            server.set_faults(server.faults.faults, float(body["slow_seconds"]))
