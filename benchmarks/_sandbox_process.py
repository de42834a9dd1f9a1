"""The sandbox in a process of its own, so a benchmark measures acflow, not the two sharing one GIL."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def sandbox_process(*flags: str, start_seconds: float = 600, port: int | None = None) -> Iterator[str]:
    """`acflow sandbox serve FLAGS` on `port` (default: a free one); yields its URL."""
    port = port or free_port()
    server = subprocess.Popen([sys.executable, "-m", "acflow.cli", "sandbox", "serve", "--port", str(port), *flags],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + start_seconds
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the sandbox did not start on port {port}")
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait()
