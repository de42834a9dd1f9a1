"""The account's rate limit, the request log behind /_sandbox/stats, and latency."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from acflow.sandbox import Sandbox
from acflow.sandbox.limits import SlidingWindow, Stats


@pytest.fixture
def api(sandbox: Sandbox):
    with httpx.Client(base_url=sandbox.url + "/api/3", headers={"Api-Token": sandbox.admin_key}) as client:
        yield client


def test_over_the_limit_is_429_with_retry_after(sandbox, api):
    sandbox.set_rate_limit(5)
    answers = [api.get("tags") for _ in range(8)]  # milliseconds apart: all within one second
    assert [r.status_code for r in answers] == [200] * 5 + [429] * 3
    assert [r.headers["RateLimit-Remaining"] for r in answers[:5]] == ["4", "3", "2", "1", "0"]
    refused = answers[-1]
    assert refused.headers["RateLimit-Limit"] == "5" and refused.headers["RateLimit-Remaining"] == "0"
    assert refused.headers["Retry-After"] == "1"
    stats = sandbox.stats()
    assert (stats["requests"], stats["rate_limited"], stats["arrived"]) == (5, 3, 8)
    assert stats["by_path"] == {"/api/3/tags": 5}  # refused requests are not served
    assert stats["max_in_any_second"] == 8


def test_both_keys_share_the_limit(sandbox, api):
    sandbox.set_rate_limit(5)
    codes = [api.get("tags").status_code for _ in range(3)]
    codes += [httpx.get(f"{sandbox.url}/api/3/tags", headers={"Api-Token": sandbox.restricted_key}).status_code
              for _ in range(3)]
    assert codes == [200] * 5 + [429]


def test_some_accounts_answer_503(sandbox, api):
    sandbox.set_rate_limit(2, status=503)
    codes = [api.get("tags") for _ in range(3)]
    assert [r.status_code for r in codes] == [200, 200, 503]
    assert codes[-1].headers["Retry-After"] == "1"


def test_control_endpoints_are_neither_limited_nor_counted(sandbox, api):
    sandbox.set_rate_limit(1)
    for _ in range(5):
        assert httpx.get(f"{sandbox.url}/_sandbox/stats").status_code == 200
    assert api.get("tags").status_code == 200
    assert sandbox.stats()["arrived"] == 1


def test_settings_over_http(sandbox, api):
    r = httpx.post(f"{sandbox.url}/_sandbox/settings", json={"rate_limit": 1, "rate_limit_status": 503})
    assert r.json()["rate_limit"] == 1 and r.json()["rate_limit_status"] == 503
    assert [api.get("tags").status_code for _ in range(2)] == [200, 503]
    bad = httpx.post(f"{sandbox.url}/_sandbox/settings", json={"rate_limit_status": 500})
    assert bad.status_code == 400


def test_reset_restores_the_start_up_settings(sandbox, api):
    sandbox.set_rate_limit(1)
    sandbox.set_latency(500)
    sandbox.reset()
    settings = sandbox.settings()
    assert (settings["rate_limit"], settings["latency_ms"]) == (0, 0)
    assert all(api.get("tags").status_code == 200 for _ in range(10))


def test_the_window_slides():
    window = SlidingWindow(5)
    assert [window.acquire(t / 10)[0] for t in range(10)] == [True] * 5 + [False] * 5
    assert window.acquire(1.0) == (True, 0, 0)  # the request at t=0 left the window
    allowed, retry_after, _ = window.acquire(1.05)
    assert not allowed and retry_after == 1
    slow = SlidingWindow(0.5)  # one request per two seconds
    assert [slow.acquire(t)[0] for t in (0, 1, 1.9, 2.0)] == [True, False, False, True]


def test_max_in_any_second_is_the_busiest_window():
    stats = Stats()
    for t in (0.0, 0.5, 0.9, 1.2, 1.3, 1.4, 3.0):
        stats.arrive(t)
    assert stats.max_in_any_second == 5  # 0.5, 0.9, 1.2, 1.3, 1.4


def test_latency_makes_concurrent_requests_overlap(sandbox):
    """Requests wait concurrently: both answers arrive, and the server saw them in one second."""
    sandbox.set_latency(300, jitter=0)

    async def both() -> list[int]:
        async with httpx.AsyncClient(headers={"Api-Token": sandbox.admin_key}) as client:
            answers = await asyncio.gather(*(client.get(f"{sandbox.url}/api/3/tags") for _ in range(4)))
        return [r.status_code for r in answers]

    assert asyncio.run(both()) == [200] * 4
    assert sandbox.settings()["latency_ms"] == 300
    assert sandbox.stats()["max_in_any_second"] == 4
