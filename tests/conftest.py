"""Shared fixtures: one sandbox server per test run, reset before each test that asks for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

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
