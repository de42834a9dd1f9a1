"""Shared fixtures: one sandbox server per test run, reset before each test that asks for it.

Tests that read the reference files beside the repository (`../shared`) are marked
`needs_shared`: from a clone of the repository alone they are skipped with one line saying
why, and under CI (the variable CI set) they run, so a missing folder fails the build.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from acflow.account import Account
from acflow.mirror import Mirror
from acflow.sandbox import Sandbox

SHARED = Path(__file__).resolve().parents[2] / "shared"
# Tests that read ../shared without carrying the mark: (file, test function).
NEEDS_SHARED = {("test_sandbox_shapes.py", "test_the_recordings_are_there")}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "needs_shared: reads ../shared beside the repository (skipped if absent, "
                            "unless CI is set)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if SHARED.is_dir() or os.environ.get("CI"):
        return
    skip = pytest.mark.skip(reason=f"needs {SHARED} beside the repository (absent; under CI this fails)")
    for item in items:
        named = (item.path.name, getattr(item, "originalname", item.name))
        if item.get_closest_marker("needs_shared") or named in NEEDS_SHARED:
            item.add_marker(skip)


# Small enough that a full read of every entity takes milliseconds, big enough for several pages.
SANDBOX_SIZES = {"contacts": 500, "deals": 400, "fieldValues": 800}


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[Sandbox]:
    """The sandbox on a free port, seed 1, rate limit off (tests that need it turn it on)."""
    with Sandbox(host="127.0.0.1", port=0, seed=1, sizes=SANDBOX_SIZES, rate_limit=0) as server:
        yield server


@pytest.fixture
def sandbox(sandbox_server: Sandbox) -> Sandbox:
    """The session's sandbox with seed data, settings and faults as at start, stats zeroed."""
    sandbox_server.reset()
    return sandbox_server


@pytest.fixture
def account(sandbox: Sandbox) -> Account:
    """The sandbox's admin key, paced far above the sandbox's (off) limit."""
    return Account(sandbox.url, sandbox.admin_key, rate_limit=1000)


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[Mirror]:
    with Mirror(tmp_path / "mirror.duckdb") as db:
        yield db


# The machine's own database servers (see the env skill): a fresh database each test run, dropped after.
# Unreachable -> skipped with the reason, except under CI, where the tests must run.
PG_SERVER = os.environ.get("ACFLOW_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
MYSQL_SERVER = os.environ.get("ACFLOW_TEST_MYSQL", "mysql://root@127.0.0.1:3306")


def _unreachable(what: str, exc: BaseException) -> None:
    if os.environ.get("CI"):
        raise RuntimeError(f"{what} is needed under CI and is not reachable: {exc}") from exc
    pytest.skip(f"{what} not reachable ({str(exc).splitlines()[0] if str(exc) else exc!r}); under CI this fails")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """`postgresql://postgres@127.0.0.1:5432/acflow_test_PID`: an empty database of its own."""
    import psycopg

    name = f"acflow_test_{os.getpid()}"
    try:
        admin = psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        _unreachable(f"PostgreSQL at {PG_SERVER}", exc)
    with admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"{PG_SERVER}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def mysql_url() -> Iterator[str]:
    """`mysql://root@127.0.0.1:3306/acflow_test_PID`: an empty utf8mb4 database of its own."""
    from urllib.parse import urlsplit

    import pymysql

    parts = urlsplit(MYSQL_SERVER)
    name = f"acflow_test_{os.getpid()}"
    try:
        admin = pymysql.connect(host=parts.hostname, port=parts.port or 3306, user=parts.username or "root",
                                password=parts.password or "", connect_timeout=5, autocommit=True)
    except pymysql.Error as exc:
        _unreachable(f"MySQL/MariaDB at {MYSQL_SERVER}", exc)
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        try:
            yield f"{MYSQL_SERVER}/{name}"
        finally:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
            admin.close()


# Debian's Chromium, driven by Playwright (its own browser download cannot reach the network here):
# installed by apt-get when missing and possible; skipped with the reason otherwise, never under CI.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


def chromium() -> Path:
    import shutil
    import subprocess

    if not CHROMIUM.exists() and shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"],
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}, capture_output=True, timeout=900)
    if CHROMIUM.exists():
        return CHROMIUM
    if os.environ.get("CI"):
        raise RuntimeError(f"{CHROMIUM} is needed under CI: apt-get install chromium")
    pytest.skip(f"no Chromium at {CHROMIUM} and apt-get could not install it; under CI this fails")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """A headless Chromium per test module (Playwright's sync API keeps an event loop running in this
    thread while it is open: a session-wide one broke every later asyncio.run); each test opens its own
    context or page."""
    path = chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(path), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()
