"""The file-system half of every local write: one writer of a target at a time (an OS lock that
dies with its process), temporary files beside the target (same file system, so os.replace is
atomic), named so that the next writer removes what a killed one left, and Ctrl-C that stops a
long DuckDB statement."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DestinationError
from .base import why as _why

if TYPE_CHECKING:
    import duckdb

LOCK_TIMEOUT = 600.0  # seconds a writer waits for another writer of the same file
MARK = ".acflow-"  # in the name of every temporary file or folder acflow makes beside a target


def lock_path(target: Path) -> Path:
    """The lock file writers of `target` meet at (kept: removing it would let two writers in)."""
    return target.parent / f".{target.name}{MARK}lock"


@contextlib.contextmanager
def locked(target: Path) -> Iterator[None]:
    """Only one writer of `target` at a time, across processes: an append reads the file and
    moves a longer one over it, so two at once kept only one's rows. An OS lock (flock, through
    the filelock library, which also works on Windows) dies with its process, so a kill never
    leaves the file locked. Also removes what killed writers left beside the target."""
    import filelock

    path = lock_path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(path, timeout=LOCK_TIMEOUT)
        lock.acquire()
    except filelock.Timeout:
        raise DestinationError(
            f"cannot write {target}: another acflow process has been writing it for {LOCK_TIMEOUT:g} s "
            f"(lock {path}); run again when it is done; the file is unchanged") from None
    except OSError as exc:
        raise DestinationError(f"cannot write {target}: {_why(exc)}; the destination is unchanged") from None
    try:
        remove_stale(target)
        yield
    finally:
        lock.release()


def _owner_gone(name: str, mtime: float) -> bool:
    """Whether the process named in a temporary file's name (…acflow-PID-…) has ended: the
    process is gone, or its PID now belongs to a process started after the file was written."""
    match = re.search(re.escape(MARK) + r"(\d+)-", name)
    if match is None:
        return False
    pid = int(match.group(1))
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # someone else's process
        pass
    started = _started(pid)
    return started is not None and started > mtime + 1


def _started(pid: int) -> float | None:
    """When a process started (Linux /proc), or None where that cannot be told."""
    try:
        ticks = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
        boot = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def remove_stale(target: Path) -> None:
    """Temporary files and folders a killed acflow left beside `target` (a 6.5 MB partial CSV,
    xlsxwriter's sheets of contact e-mails): ours by name, and their process gone."""
    try:
        entries = list(target.parent.glob(f".{glob_escape(target.name)}{MARK}*"))
    except OSError:
        return
    for entry in entries:
        try:
            if entry == lock_path(target) or not _owner_gone(entry.name, entry.lstat().st_mtime):
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
        except OSError:
            continue  # another writer's cleanup got there first


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


def _temp_prefix(target: Path) -> str:
    return f".{target.name}{MARK}{os.getpid()}-"


@contextlib.contextmanager
def temp_beside(target: Path, suffix: str) -> Iterator[Path]:
    """A temporary path in the target's folder (same file system, so os.replace is atomic),
    named so that the next write removes it if this process is killed."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=_temp_prefix(target), suffix=suffix, dir=target.parent)
    except OSError as exc:
        raise DestinationError(f"cannot write {target}: {_why(exc)}; the destination is unchanged") from None
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def temp_dir_for(target: Path) -> Iterator[Path]:
    """A folder for a writer's own temporary files (xlsxwriter's `tmpdir`), beside `target`:
    never the shared /tmp, where a kill left 235 MB of contact e-mails; removed afterwards,
    and by the next writer of `target` if this process is killed."""
    remove_stale(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=_temp_prefix(target), suffix=".d", dir=target.parent))
    except OSError as exc:
        raise DestinationError(f"cannot write {target}: {_why(exc)}; the destination is unchanged") from None
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run_interruptibly(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> None:
    """Run one long statement so that Ctrl-C stops it: DuckDB's Python client does not look at
    signals while a statement runs (a COPY went on to its end, then was thrown away). Python's
    signal handler writes the signal's number to a wakeup socket at once, even while this thread
    is inside DuckDB; a watcher thread reads it and interrupts the statement."""
    import duckdb

    if threading.current_thread() is not threading.main_thread():
        con.execute(sql, params or [])  # only the main thread gets signals
        return
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    try:
        previous = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    except ValueError:  # not the main interpreter
        reader.close()
        writer.close()
        con.execute(sql, params or [])
        return
    stops = {int(signal.SIGINT), int(getattr(signal, "SIGTERM", signal.SIGINT))}
    interrupted = threading.Event()

    def watch() -> None:
        while data := reader.recv(64):
            if stops & set(data):
                interrupted.set()
                con.interrupt()
                return

    watcher = threading.Thread(target=watch, name="acflow-ctrl-c", daemon=True)
    watcher.start()
    try:
        con.execute(sql, params or [])
    except duckdb.InterruptException:
        raise KeyboardInterrupt from None
    finally:
        signal.set_wakeup_fd(previous)
        writer.close()  # the watcher's recv returns b""
        watcher.join()
        reader.close()
    if interrupted.is_set():  # the signal came as the statement ended
        raise KeyboardInterrupt


def sql_path(path: Path) -> str:
    """A path as an SQL string literal: a folder may well be called o'brien."""
    return "'" + str(path).replace("'", "''") + "'"


def _copy_mode(target: Path, tmp: Path) -> None:
    """The new file keeps the old one's permissions (or the umask's), not mkstemp's 0600."""
    if target.exists():
        shutil.copymode(target, tmp)
    else:
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o666 & ~umask)


def move_into_place(tmp: Path, target: Path) -> None:
    try:
        _copy_mode(target, tmp)
        os.replace(tmp, target)
    except OSError as exc:
        raise DestinationError(f"cannot replace {target}: {_why(exc)}; it is unchanged") from None
