"""The limiter's promise: never more than N sends in any window of one second."""

import asyncio
import time

from acflow.ratelimit import RateLimiter, limiter_for


def test_no_second_holds_more_than_the_limit():
    limiter = RateLimiter(5.0)
    stamps: list[float] = []

    async def sender():
        for _ in range(4):
            await limiter.acquire()
            stamps.append(time.monotonic())

    async def main():
        await asyncio.gather(*(sender() for _ in range(4)))

    asyncio.run(main())
    assert len(stamps) == 16
    stamps.sort()
    most = max(sum(1 for t in stamps if start <= t < start + 1.0) for start in stamps)
    assert most == 5


def test_pause_holds_everyone_back():
    limiter = RateLimiter(100.0)
    limiter.pause(0.3)
    started = time.monotonic()
    asyncio.run(limiter.acquire())
    assert time.monotonic() - started >= 0.29


def test_one_limiter_per_account():
    assert limiter_for("https://a.api-us1.com") is limiter_for("https://a.api-us1.com")
    assert limiter_for("https://a.api-us1.com") is not limiter_for("https://b.api-us1.com")


def test_an_urgent_request_takes_the_next_free_slot_before_those_waiting():
    """A keyset read waits for each page before asking the next: its request goes before pages others
    fetch ahead, or an account's last seconds are that one reader with one request in flight."""
    import asyncio

    from acflow.ratelimit import RateLimiter

    limiter = RateLimiter(rate=5)
    order: list[str] = []

    async def take(name: str, urgent: bool = False) -> None:
        await limiter.acquire(urgent=urgent)
        order.append(name)

    async def main() -> None:
        ahead = [asyncio.create_task(take(f"ahead{i}")) for i in range(9)]
        await asyncio.sleep(0.05)  # five took the window's slots; four wait for the next ones
        await asyncio.gather(take("urgent", urgent=True), *ahead)

    asyncio.run(main())
    assert order.index("urgent") == 5  # the first slot that came free
    assert len(order) == 10


def test_a_slot_written_late_counts_from_when_it_was_written():
    """A new connection's first request leaves after its slot; the window counts from the write, so the
    sixth send stays a whole window after what the server saw first."""
    limiter = RateLimiter(rate=5, margin=0.0)

    async def main() -> tuple[float, float]:
        first = await limiter.acquire()
        await asyncio.sleep(0.2)  # its TCP connection, say
        written = time.monotonic()
        limiter.sent(first)
        for _ in range(4):
            await limiter.acquire()
        await limiter.acquire()  # the sixth: a window after the first's write, not its slot
        return written, time.monotonic()

    written, sixth = asyncio.run(main())
    assert sixth - written >= 0.99
