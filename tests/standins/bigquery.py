"""A BigQuery stand-in: bqemulator (PyPI), an HTTP server that answers the BigQuery REST API
(datasets, tables, load jobs with uploads, query jobs with MERGE and transactions) on DuckDB, so
the real google-cloud-bigquery client talks to it through `client_options.api_endpoint`.

It pins versions of its own (sqlglot below fakesnow's; DuckDB's spatial extension, which it loads
at start, is on PyPI only for DuckDB 1.5.5), so it lives in a virtualenv of its own and runs as a
separate process:

    python3 -m venv .venv-bqemulator
    .venv-bqemulator/bin/pip install bqemulator==1.4.0 duckdb==1.5.5 duckdb-extension-spatial==1.5.5 numpy

It is found at $ACFLOW_BQEMULATOR (the bqemulator executable), else .venv-bqemulator/bin/bqemulator
in the repository, else `bqemulator` on PATH.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SETUP = ("python3 -m venv .venv-bqemulator && .venv-bqemulator/bin/pip install bqemulator==1.4.0 duckdb==1.5.5 "
         "duckdb-extension-spatial==1.5.5 numpy")
# DuckDB installs extensions under $HOME/.duckdb; the emulator's `INSTALL spatial` then finds the
# one from the PyPI package instead of downloading it (this machine reaches no extension server)
_INSTALL_SPATIAL = """
import pathlib, duckdb, duckdb_extension_spatial
root = pathlib.Path(duckdb_extension_spatial.__file__).parent / "extensions"
path = next(root.rglob("spatial.duckdb_extension"))
duckdb.connect().execute(f"INSTALL '{path}'")
"""


def find() -> Path | None:
    env = os.environ.get("ACFLOW_BQEMULATOR")
    if env:
        return Path(env)
    local = REPO / ".venv-bqemulator" / "bin" / "bqemulator"
    if local.exists():
        return local
    found = shutil.which("bqemulator")
    return Path(found) if found else None


def _free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def bigquery_emulator(exe: Path, project: str) -> Iterator[str]:
    """bqemulator on free loopback ports, in-memory; yields its URL for ACFLOW_BIGQUERY_ENDPOINT."""
    with tempfile.TemporaryDirectory(prefix="acflow-bqemulator-") as home:
        env = {**os.environ, "HOME": home}
        subprocess.run([str(exe.parent / "python"), "-c", _INSTALL_SPATIAL], env=env, check=True,
                       capture_output=True, timeout=120)
        rest, grpc = _free_port(), _free_port()
        log = Path(home) / "bqemulator.log"
        with log.open("wb") as out:
            proc = subprocess.Popen([str(exe), "start", "--rest-port", str(rest), "--grpc-port", str(grpc),
                                     "--project", project, "--log-level", "error"],
                                    env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 120
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"bqemulator exited ({proc.returncode}): {log.read_text()[-2000:]}")
                try:
                    socket.create_connection(("127.0.0.1", rest), 0.5).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("bqemulator did not listen within 120 s") from None
                    time.sleep(0.1)
            yield f"http://127.0.0.1:{rest}"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def client(endpoint: str, project: str):  # type: ignore[no-untyped-def]
    """A google-cloud-bigquery client of the stand-in, for tests to set up and read back."""
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    return bigquery.Client(project=project, credentials=AnonymousCredentials(),
                           client_options=ClientOptions(api_endpoint=endpoint))
