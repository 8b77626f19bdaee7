"""Run one attempt from many threads released at the same instant (for races on committed
transactions). Any exception in a thread fails the test that started the race."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def race(count: int, prepare: Callable[[int], Callable[[], T]]) -> list[T]:
    """`prepare(n)` runs in thread n first (a test client, a connection…) and returns the
    attempt; the attempts start together once every thread is ready. Returns their results."""
    start = threading.Barrier(count)
    results: list[T] = []
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            attempt = prepare(n)
            start.wait()
            results.append(attempt())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results
