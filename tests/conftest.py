"""Shared fixtures: one sandbox server per test run, reset before each test that asks for it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from acflow.account import Account
from acflow.mirror import Mirror
from acflow.sandbox import Sandbox

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
