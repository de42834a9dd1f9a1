"""The run host: a child process that holds the mirror while the service needs it, then ends.

A sync loads DuckDB, Arrow and NumPy, and a process keeps what they take: their code (about 100 MB
of it resident) and the heap they freed (benchmarks/service.py measured 250 MB idle after a burst,
with malloc_trim and the system allocator for Arrow). The service itself only schedules, queues and
answers HTTP. So everything that opens the mirror (runs, run history, previews, reports) happens in
this process, started on the first request and ended `linger` seconds after the last: between
bursts the service holds none of it. A burst pays one start (about half a second, while its runs
gather).

Requests are functions named by module and name, called here as `fn(mirror, *args)`, with picklable
arguments and results, over a multiprocessing pipe; a run sends its progress back as events. The
host ignores SIGINT and SIGTERM (a terminal's Ctrl-C or systemd reach the whole process group): the
service decides when its runs stop. If the service dies, the pipe closes and the host ends at once;
every write is all or nothing, so nothing half-written is kept.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import itertools
import logging
import multiprocessing
import os
import pickle
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..errors import AcflowError, ConfigError

log = logging.getLogger("acflow.service")
LINGER = 5.0  # seconds the host stays after its last request (ACFLOW_HOST_LINGER)
LINGER_ENV = "ACFLOW_HOST_LINGER"
OPEN_WAIT = 30.0  # seconds the host waits for the mirror another process holds (acflow run, a reader)
THREADS = 16  # requests served at once: runs (one per account) and the pages' questions

Emit = Callable[[str, Any], None]


class HostError(AcflowError):
    """The host could not answer: it ended, or could not open the mirror."""


class Host:
    """The service's side: `call(fn, *args)` runs `fn(mirror, *args)` in the host, starting it if needed."""

    def __init__(self, mirror_path: str | Path, *, linger: float | None = None, verbose: bool = False) -> None:
        self.mirror_path = Path(mirror_path)
        self.linger = linger if linger is not None else _linger()
        self.verbose = verbose
        self.starts = 0  # host processes started so far
        self._lock = threading.Lock()
        self._proc: Any = None  # multiprocessing.Process
        self._conn: Any = None
        self._send_lock = threading.Lock()
        # request id -> (its answer, its events' receiver, the host process it went to)
        self._pending: dict[int, tuple[Future[Any], Callable[[str, Any], None] | None, Any]] = {}
        self._ids = itertools.count(1)
        self._timer: threading.Timer | None = None

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.is_alive() else None

    def call(self, fn: Callable[..., Any], *args: Any, timeout: float | None = None, **kwargs: Any) -> Any:
        return self._request(fn, args, kwargs, None).result(timeout)

    def events(self, fn: Callable[..., Any], *args: Any, on_event: Callable[[str, Any], None],
               **kwargs: Any) -> Any:
        """`fn(mirror, *args, emit=...)`: each `emit(name, payload)` there calls `on_event` here."""
        return self._request(fn, args, kwargs, on_event).result()

    def _request(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
                 on_event: Callable[[str, Any], None] | None) -> Future[Any]:
        ref = f"{fn.__module__}:{fn.__qualname__}"
        future: Future[Any] = Future()
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._proc is None:
                self._start()
            rid = next(self._ids)
            self._pending[rid] = (future, on_event, self._proc)
            conn = self._conn
        try:
            with self._send_lock:
                conn.send(("call", rid, ref, args, kwargs, on_event is not None))
        except (OSError, ValueError) as exc:  # the host ended under us: the reader fails the others
            with self._lock:
                self._pending.pop(rid, None)
            raise HostError(f"the run host ended: {exc}") from None
        return future

    def _start(self) -> None:
        ctx = multiprocessing.get_context("spawn")  # not fork: this process has threads, and no DuckDB
        mine, theirs = ctx.Pipe()
        proc = ctx.Process(target=main, args=(theirs, str(self.mirror_path), self.verbose), name="acflow-run-host",
                           daemon=True)
        proc.start()
        theirs.close()
        self._proc, self._conn = proc, mine
        self.starts += 1
        if self.starts == 1:  # before multiprocessing's own exit handler, which would wait for it forever
            atexit.register(self._at_exit)
        threading.Thread(target=self._read, args=(proc, mine), name="acflow-host-reader", daemon=True).start()
        log.debug("run host started (PID %s)", proc.pid)

    def _read(self, proc: Any, conn: Any) -> None:
        why = None
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                break
            kind = msg[0]
            if kind == "fatal":
                why = msg[1]
                break
            rid = msg[1]
            with self._lock:
                entry = self._pending.get(rid) if kind == "event" else self._pending.pop(rid, None)
            if entry is None:
                continue
            future, on_event, _ = entry
            if kind == "event":
                if on_event is not None:
                    try:
                        on_event(msg[2], msg[3])
                    except Exception:
                        log.exception("a run host event (%s)", msg[2])
            elif kind == "ok":
                future.set_result(msg[2])
            else:
                future.set_exception(_unpack(msg[2]))
            with self._lock:
                if not self._pending and self._proc is proc:
                    self._arm()
        proc.join(5)
        with self._lock:
            mine = [rid for rid, (_, _, to) in self._pending.items() if to is proc]
            left = [self._pending.pop(rid)[0] for rid in mine]
            if self._proc is proc:
                self._proc = self._conn = None
                if self._timer is not None:
                    self._timer.cancel()
                    self._timer = None
        with contextlib.suppress(OSError):
            conn.close()
        if left:
            text = why or f"the run host (PID {proc.pid}) ended unexpectedly (exit code {proc.exitcode})"
            log.error("%s", text)
            for future in left:
                future.set_exception(HostError(text))

    def _arm(self) -> None:
        self._timer = threading.Timer(self.linger, self._idle_end)
        self._timer.daemon = True
        self._timer.start()

    def _idle_end(self) -> None:
        with self._lock:
            if self._pending or self._proc is None:
                return
            proc, conn = self._proc, self._conn
            self._proc = self._conn = None  # a request from now on starts another host
            self._timer = None
        _ask_to_end(proc, conn, wait=10.0)

    def close(self, wait: float = 10.0) -> None:
        """The host ends now, once the requests in flight are answered (or after `wait` s): the mirror
        is free for other processes. A request after this starts another."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            proc, conn = self._proc, self._conn
        if proc is not None:
            deadline = time.monotonic() + wait
            while self._pending and time.monotonic() < deadline:
                time.sleep(0.05)
            with self._lock:
                self._proc = self._conn = None
            _ask_to_end(proc, conn, wait=max(0.5, deadline - time.monotonic()))

    def _at_exit(self) -> None:
        """The interpreter is ending: so does the host (it ignores SIGTERM, which multiprocessing's own
        exit handler would send before waiting for it forever)."""
        with self._lock:
            proc, conn = self._proc, self._conn
            self._proc = self._conn = None
        if proc is not None:
            _ask_to_end(proc, conn, wait=5.0)


def _linger() -> float:
    text = os.environ.get(LINGER_ENV)
    try:
        return max(0.0, float(text)) if text else LINGER
    except ValueError:
        raise ConfigError(f"{LINGER_ENV}={text!r}: give the seconds the run host stays after its last request, "
                          f"e.g. {LINGER:g}") from None


def _ask_to_end(proc: Any, conn: Any, wait: float) -> None:
    with contextlib.suppress(OSError, ValueError):
        conn.send(("exit",))
    proc.join(wait)
    if proc.is_alive():
        proc.kill()
        proc.join(5)


def _pack(exc: BaseException) -> tuple[str, Any]:
    """acflow's own errors travel whole (their class says the exit code); any other as its words, so
    the service does not import the library it came from (duckdb.IOException would load DuckDB)."""
    ours = isinstance(exc, AcflowError)
    if type(exc).__module__ in ("acflow.errors", __name__):
        try:
            data = pickle.dumps(exc)
            if str(pickle.loads(data)) == str(exc):  # not so for an __init__ that takes other arguments
                return ("pickle", data)
        except Exception:
            pass
    return ("text", (None if ours else type(exc).__name__, str(exc), getattr(exc, "exit_code", 1)))


def _unpack(packed: tuple[str, Any]) -> BaseException:
    kind, data = packed
    if kind == "pickle":
        return pickle.loads(data)
    name, text, code = data
    exc = AcflowError(text if name is None else f"{name}: {text}")
    exc.exit_code = code
    return exc


# -- the host process


def main(conn: Any, mirror_path: str, verbose: bool) -> None:
    """The host: open the mirror, answer requests on threads until told to end (or the service is gone)."""
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, signal.SIG_IGN)
    from .server import _logging

    _logging(verbose)
    _frugal_memory()
    try:
        db = _open(Path(mirror_path))
    except Exception as exc:
        with contextlib.suppress(OSError, ValueError):
            conn.send(("fatal", str(exc).splitlines()[0] if str(exc) else type(exc).__name__))
        return
    from .. import run  # noqa: F401  what a batch needs, loaded while the runs asked for gather
    from . import hosted  # noqa: F401

    send_lock = threading.Lock()

    def send(msg: tuple[Any, ...]) -> None:
        try:
            with send_lock:
                conn.send(msg)
        except (OSError, ValueError):  # the service is gone: the reading loop ends the process
            pass
        except Exception as exc:  # a result that does not pickle
            with send_lock, contextlib.suppress(OSError, ValueError):
                conn.send(("err", msg[1], _pack(HostError(f"the run host's answer could not be sent: {exc}"))))

    def handle(rid: int, ref: str, args: tuple[Any, ...], kwargs: dict[str, Any], events: bool) -> None:
        try:
            module, _, name = ref.partition(":")
            fn: Any = importlib.import_module(module)
            for part in name.split("."):
                fn = getattr(fn, part)
            if events:
                kwargs["emit"] = lambda what, payload: send(("event", rid, what, payload))
            send(("ok", rid, fn(db, *args, **kwargs)))
        except BaseException as exc:
            if not isinstance(exc, AcflowError):
                log.exception("run host: %s failed", ref)
            send(("err", rid, _pack(exc)))

    pool = ThreadPoolExecutor(THREADS, thread_name_prefix="acflow-host")
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):  # the service ended without a word: its runs end with it, whole
            os._exit(0)
        if msg[0] == "exit":
            break
        pool.submit(handle, *msg[1:])
    pool.shutdown(wait=True)
    db.close()


def _frugal_memory() -> None:
    """The host lingers between a burst's runs: memory a run freed should go back to the system. Arrow's
    own pool (mimalloc) keeps it, and glibc's per-thread arenas (each run thread) each keep some; the
    system allocator for Arrow and two arenas give it back (benchmarks/service.py)."""
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")  # read when pyarrow loads: after this
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL("libc.so.6").mallopt(-8, 2)  # M_ARENA_MAX


def _open(path: Path) -> Any:
    """The mirror, waited for while another process (acflow run, acflow runs, a reader) has it."""
    from ..errors import MirrorBusy
    from ..mirror import Mirror

    deadline = time.monotonic() + OPEN_WAIT
    while True:
        try:
            return Mirror(path)
        except MirrorBusy:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.2)
