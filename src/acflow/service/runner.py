"""Runs of flows, queued per account: what makes the seeds' "stagger your flows" advice unnecessary.

Every run needs one or more accounts (the flow's source). An account does one thing at a time:
a run whose account is busy waits in the queue, and when the account is free the runs waiting for
it go together, as one `acflow run` of those flows, so an entity two flows read is fetched once.
Runs on other accounts go at the same time, in their own threads, over the service's one mirror.
Within the process every request to an account passes its one rate limiter (ratelimit.py), so
queued or not, no run can push an account past its limit.

A flow queued or running when it is asked for again is not run twice: that request is recorded
as skipped.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from ..errors import AcflowError
from .history import RunRecord

if TYPE_CHECKING:
    from ..summary import RunSummary

log = logging.getLogger("acflow.service")
GATHER = 0.5  # seconds a new run waits for others asked for at the same moment
GATHER_MAX = 3.0  # and at most this long


def now() -> datetime:
    return datetime.now().astimezone()


@dataclass
class _Batch:
    accounts: frozenset[str]
    runs: list[RunRecord] = field(default_factory=list)
    progress: dict[str, int] = field(default_factory=dict)  # entity -> rows read so far


class Runner:
    """The queue and the threads that run it. `execute` does one batch's work (the service's)."""

    def __init__(self, *, accounts_of: Callable[[str], frozenset[str]], entities_of: Callable[[str], frozenset[str]],
                 save: Callable[[list[RunRecord]], None],
                 execute: Callable[[list[str], Callable[[str, int], None], Callable[[], None]], RunSummary],
                 finished: Callable[[RunRecord, RunSummary | None], None], parallel: int = 4) -> None:
        self._accounts_of = accounts_of
        self._entities_of = entities_of
        self._save = save
        self._execute = execute
        self._finished = finished
        self._lock = threading.Lock()
        self._queue: list[RunRecord] = []
        self._busy: dict[str, _Batch] = {}  # account -> the batch running on it
        self._running: dict[str, _Batch] = {}  # run id -> its batch
        self._pool = ThreadPoolExecutor(max(1, parallel), thread_name_prefix="acflow-run")
        self._futures: set[Future[None]] = set()
        self._accepting = True
        self._idle = threading.Condition(self._lock)
        self._timer: threading.Timer | None = None
        self._gather_from: float | None = None
        self._blocked: dict[str, datetime] = {}  # run id -> when it first found its account busy

    # -- asking for runs

    def submit(self, flow: str, trigger: str, scheduled: datetime | None = None) -> RunRecord:
        """Queue a run of `flow` (or record it skipped: the flow is queued or running already)."""
        record = RunRecord(uuid.uuid4().hex[:12], flow, trigger, now(), scheduled)
        with self._lock:
            active = [r for r in self._queue if r.flow == flow] + [
                r for b in self._running.values() for r in b.runs if r.flow == flow and not r.done]
            if not self._accepting:
                record.status, record.ended = "skipped", record.queued
                record.error = "the service is stopping: no new runs"
            elif active:
                record.status, record.ended = "skipped", record.queued
                record.error = f"run {active[0].run_id} of this flow was still {active[0].status}"
            else:
                self._queue.append(record)
        self._save([record])
        if record.status == "skipped":
            log.info("flow %s (%s): skipped, %s", flow, trigger, record.error)
        else:
            log.info("flow %s (%s): queued as run %s", flow, trigger, record.run_id)
            self._dispatch_soon()
        return record

    def _dispatch_soon(self) -> None:
        """Runs asked for together (a schedule's minute, a script's loop) go as one batch per account:
        the queue is looked at once no run was asked for in GATHER seconds, or GATHER_MAX after the
        first of them."""
        with self._lock:
            first = self._gather_from or time.monotonic()
            self._gather_from = first
            if self._timer is not None:
                self._timer.cancel()
            wait = min(GATHER, max(0.0, first + GATHER_MAX - time.monotonic()))
            self._timer = threading.Timer(wait, self._gathered)
            self._timer.daemon = True
            self._timer.start()

    def _gathered(self) -> None:
        with self._lock:
            self._timer, self._gather_from = None, None
        self._dispatch()

    def progress(self, run_id: str) -> dict[str, int] | None:
        with self._lock:
            batch = self._running.get(run_id)
            return dict(batch.progress) if batch is not None else None

    def active(self) -> list[RunRecord]:
        with self._lock:
            return [*self._queue, *(r for b in {id(b): b for b in self._running.values()}.values() for r in b.runs)]

    # -- running them

    def _dispatch(self) -> None:
        started: list[_Batch] = []
        with self._lock:
            if not self._accepting:
                return
            forming: dict[frozenset[str], _Batch] = {}
            for record in list(self._queue):
                try:
                    accounts = self._accounts_of(record.flow)
                except AcflowError as exc:  # the flow is gone from acflow.yaml, or the file is broken
                    self._queue.remove(record)
                    self._fail_now(record, str(exc))
                    continue
                batch = forming.get(accounts)
                if batch is None:
                    if any(a in self._busy for a in accounts):
                        holder = next(self._busy[a] for a in accounts if a in self._busy)
                        if record.run_id not in self._blocked:
                            log.info("flow %s waits: account %s is busy with %s", record.flow,
                                     ", ".join(sorted(accounts & holder.accounts)),
                                     ", ".join(r.flow for r in holder.runs))
                            self._blocked[record.run_id] = now()
                        continue
                    batch = forming[accounts] = _Batch(accounts)
                    for a in accounts:
                        self._busy[a] = batch
                    started.append(batch)
                self._queue.remove(record)
                if batch.runs:
                    log.info("flow %s runs with %s on account %s: one read of what they share", record.flow,
                             ", ".join(r.flow for r in batch.runs), ", ".join(sorted(accounts)))
                batch.runs.append(record)
                self._running[record.run_id] = batch
        for batch in started:
            future = self._pool.submit(self._run_batch, batch)
            with self._lock:
                self._futures.add(future)
            future.add_done_callback(self._forget)

    def _forget(self, future: Future[None]) -> None:
        with self._lock:
            self._futures.discard(future)
            self._idle.notify_all()

    def _fail_now(self, record: RunRecord, error: str) -> None:
        record.status, record.error = "failed", error
        record.started = record.started or now()
        record.ended = now()
        self._save([record])
        self._finished(record, None)

    def _run_batch(self, batch: _Batch) -> None:
        start = now()
        for r in batch.runs:
            r.started, r.status = start, "running"
            with self._lock:
                blocked = self._blocked.pop(r.run_id, None)
            if blocked is not None:  # the time its account was busy with another run, not the gathering
                r.waited = round((start - blocked).total_seconds(), 3)
                log.info("flow %s waited %.1f s for account %s", r.flow, r.waited, ", ".join(sorted(batch.accounts)))
        self._save(batch.runs)  # one write for the batch: its first request waits for it

        def on_rows(entity: str, rows: int) -> None:
            batch.progress[entity] = rows

        summary: RunSummary | None = None
        error: str | None = None
        try:
            summary = self._execute([r.flow for r in batch.runs], on_rows, lambda: self._release(batch))
        except AcflowError as exc:
            error = str(exc)
        except Exception as exc:  # a bug must not take the service (or other flows) down
            log.exception("run of %s failed unexpectedly", ", ".join(r.flow for r in batch.runs))
            error = f"unexpected error: {type(exc).__name__}: {exc}"
        self._release(batch, dispatch=False)
        end = now()
        for r in batch.runs:
            r.ended = end
            if summary is None:
                r.status, r.error = "failed", error
            else:
                try:
                    entities = self._entities_of(r.flow)
                except AcflowError:
                    entities = None
                fill(r, summary, entities)
        with self._lock:
            for r in batch.runs:
                self._running.pop(r.run_id, None)
        self._save(batch.runs)
        for r in batch.runs:
            log.info("flow %s: run %s %s in %.1f s%s", r.flow, r.run_id, r.status, r.seconds or 0,
                     f": {r.error}" if r.error else "")
            try:
                self._finished(r, summary)
            except Exception:
                log.exception("after run %s", r.run_id)
        self._dispatch()

    def _release(self, batch: _Batch, dispatch: bool = True) -> None:
        """The batch makes no more requests (its writes may go on): its accounts take the next runs."""
        with self._lock:
            freed = [a for a in batch.accounts if self._busy.get(a) is batch]
            for a in freed:
                del self._busy[a]
            for r in batch.runs:
                r.synced = r.synced or now()
        if freed and dispatch:
            self._dispatch()

    # -- stopping

    def stop(self, grace: float) -> list[RunRecord]:
        """No new runs; queued ones are skipped; running ones get `grace` seconds. Returns those
        still running after it (their destinations keep their previous data: every write is
        all or nothing)."""
        with self._lock:
            self._accepting = False
            queued, self._queue = self._queue, []
            self._blocked.clear()
        for r in queued:
            r.status, r.ended, r.error = "skipped", now(), "the service stopped before this run started"
        if queued:
            self._save(queued)
        deadline = time.monotonic() + grace
        with self._lock:
            while self._futures and (left := deadline - time.monotonic()) > 0:
                self._idle.wait(left)
            still = [r for b in {id(b): b for b in self._running.values()}.values() for r in b.runs]
        self._pool.shutdown(wait=False, cancel_futures=True)
        return still


def fill(record: RunRecord, summary: RunSummary, entities: frozenset[str] | None = None) -> None:
    """A batch's figures, per flow: its own write, and the reads of the entities it needs (the
    requests and 429s are the batch's: its flows shared one sync)."""
    result = next((f for f in summary.flows if f.flow == record.flow), None)
    if result is None:
        record.status, record.error = "failed", "the flow was not run"
        return
    record.status = {"ok": "success", "unchanged": "unchanged"}.get(result.status, "failed")
    record.error = result.error
    record.rows_written = {result.destination: result.rows} if result.status == "ok" else {}
    read: dict[str, int] = {}
    requests = limited = 0
    for s in summary.syncs:
        requests += s.requests
        for e in s.entities:
            if entities is not None and e.entity not in entities:
                continue
            read[e.entity] = read.get(e.entity, 0) + e.fetched
            limited += e.rate_limited
    record.rows_read, record.requests, record.rate_limited = read, requests, limited

