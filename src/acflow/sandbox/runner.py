"""Running the sandbox: in a background thread (tests, `acflow demo`) or in the foreground (CLI).

    with Sandbox(port=0, seed=1, sizes={"contacts": 500}, rate_limit=0) as sb:
        httpx.get(sb.url + "/api/3/contacts", headers={"Api-Token": sb.admin_key})
        sb.mutate("contacts", update=3)
        sb.stats()["requests"]

Many accounts in one process: `Sandbox(accounts=30)` adds accounts acct01..acct30 beside the
first, each at its own API URL (`sb.account_url("acct07")`, a path prefix) with its own data,
keys (`sb.key_of("acct07")`), rate limit and stats; methods take `account=` to address one.

Every method runs on the server's event loop thread, so it is safe to call
from any thread while clients are talking to the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import signal
import threading
from collections.abc import Callable, Mapping
from typing import Any

from acflow.sandbox.clock import USER_ZONE
from acflow.sandbox.faults import Fault
from acflow.sandbox.server import ADMIN_KEY, DEFAULT_PORT, RESTRICTED_KEY, Config, SandboxServer


class Sandbox:
    """An ActiveCampaign API v3 server on a free port, for tests and demos (see `acflow sandbox serve`)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, seed: int = 1,
                 sizes: Mapping[str, int] | None = None, latency_ms: float = 0.0, jitter: float = 0.2,
                 rate_limit: float = 5.0, rate_limit_status: int = 429,
                 faults: str | list[Fault] | None = None, slow_seconds: float = 30.0,
                 churn: str | Mapping[str, float] | None = None, admin_key: str = ADMIN_KEY,
                 restricted_key: str = RESTRICTED_KEY, timezone: str = "America/Chicago",
                 restricted_denied: tuple[str, ...] = (), cache_mb: int = 256,
                 user_timezone: str | None = USER_ZONE, value_bumps_record: bool = True,
                 accounts: int | list[str] = 0) -> None:
        names = account_names(accounts) if isinstance(accounts, int) else tuple(accounts)
        self.config = Config(host, port, seed, sizes, latency_ms, jitter, rate_limit, rate_limit_status,
                             faults, slow_seconds, churn, admin_key, restricted_key, timezone,
                             tuple(restricted_denied), cache_mb, user_timezone, value_bumps_record, names)
        self._server: SandboxServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle -----------------------------------------------------------------------------
    def start(self) -> Sandbox:
        if self._thread is not None:
            return self
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            try:
                self._server = SandboxServer(self.config)
                loop.run_until_complete(self._server.start())
            except BaseException as e:  # reported to the starting thread
                failure.append(e)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._server.stop())
            pending = asyncio.all_tasks(loop)  # handlers still held by latency or a slow fault
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

        self._thread = threading.Thread(target=run, name="acflow-sandbox", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._thread = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self._loop is None or self._thread is None:
            raise RuntimeError("the sandbox is not running; use `with Sandbox(...) as sb:` or sb.start()")

        async def run() -> Any:
            result = fn(*args, **kwargs)
            return await result if inspect.isawaitable(result) else result

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=300)

    @property
    def server(self) -> SandboxServer:
        if self._server is None:
            raise RuntimeError("the sandbox is not running")
        return self._server

    def _of(self, account: str | None) -> SandboxServer:
        """The first account's server, or account `account`'s (Sandbox(accounts=...))."""
        if account is None:
            return self.server
        try:
            return self.server.tenants[account]
        except KeyError:
            raise ValueError(f"no sandbox account {account!r}; accounts: {', '.join(self.accounts)}") from None

    @property
    def accounts(self) -> list[str]:
        """The names of the accounts beside the first, in order."""
        return list(self.config.accounts)

    def account_url(self, account: str) -> str:
        """Account `account`'s API URL, e.g. http://127.0.0.1:54321/acct/acct07."""
        return self._of(account).url

    def key_of(self, account: str) -> str:
        return self._of(account).config.admin_key

    # ---- what clients need -----------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The account's API URL, e.g. http://127.0.0.1:54321 (clients append /api/3)."""
        return self.server.url

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def admin_key(self) -> str:
        return self.config.admin_key

    @property
    def restricted_key(self) -> str:
        return self.config.restricted_key

    # ---- control (same as the /_sandbox/ endpoints) ---------------------------------------------------
    def reset(self, seed: int | None = None, sizes: Mapping[str, int] | None = None) -> None:
        """Seed data, settings, faults and churn as at start (or with this seed/sizes); stats zeroed."""
        self._call(self.server.reset, seed, sizes)

    def stats(self, account: str | None = None) -> dict[str, Any]:
        return self._call(self._of(account).stats.to_dict)

    def mutate(self, entity: str, create: int = 0, update: int = 0, delete: int = 0,
               soft_delete: int = 0, account: str | None = None) -> dict[str, Any]:
        return self._call(self._of(account).mutate, entity, create=create, update=update, delete=delete,
                          soft_delete=soft_delete)

    def edit(self, entity: str, create: list[dict[str, Any]] | None = None,
             update: list[dict[str, Any]] | None = None, delete: list[int] | None = None) -> dict[str, Any]:
        """Records created, changed or deleted with given values (see acflow.sandbox.edits)."""
        return self._call(self.server.edit, entity, create=create or [], update=update or [], delete=delete or [])

    def snapshot(self, entity: str, account: str | None = None) -> list[dict[str, Any]]:
        server = self._of(account)
        return self._call(lambda: server.world.snapshot(entity))

    def set_faults(self, faults: str | list[Fault] | None, slow_seconds: float | None = None,
                   account: str | None = None) -> list[str]:
        """A SPEC string (see acflow.sandbox.faults) or fault callables; None clears them."""
        return self._call(self._of(account).set_faults, faults, slow_seconds)

    def set_rate_limit(self, rps: float, status: int | None = None, account: str | None = None) -> None:
        self._call(self._of(account).set_rate_limit, rps, status)

    def set_latency(self, ms: float, jitter: float | None = None, account: str | None = None) -> None:
        self._call(self._of(account).set_latency, ms, jitter)

    def set_churn(self, spec: str | Mapping[str, float] | None) -> dict[str, float]:
        return self._call(self.server.set_churn, spec)

    def settings(self) -> dict[str, Any]:
        return self._call(self.server.settings)

    def set_value_bumps_record(self, on: bool) -> None:
        """Whether a custom field value's change moves its record's update time (until reset)."""
        self._call(self.server.set_value_bumps_record, on)


def account_names(count: int) -> tuple[str, ...]:
    """acct01, acct02, ... (as many digits as the count needs, at least two)."""
    width = max(2, len(str(count)))
    return tuple(f"acct{i:0{width}d}" for i in range(1, count + 1))


def serve(config: Config | None = None, on_ready: Callable[[SandboxServer], None] | None = None,
          **kwargs: Any) -> None:
    """Serve in the foreground until Ctrl-C (what `acflow sandbox serve` runs)."""
    config = config or Config(**{"port": DEFAULT_PORT, **kwargs})

    async def main() -> None:
        server = SandboxServer(config)
        await server.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread, Windows
                loop.add_signal_handler(sig, stop.set)
        if on_ready is not None:
            on_ready(server)
        try:
            await stop.wait()
        finally:
            await server.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
