"""Run one attempt from many threads released at the same instant (for races on committed
transactions). Any exception in a thread fails the test that started the race."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def race(count: int, prepare: Callable[[], Callable[[], T]]) -> list[T]:
    """`prepare()` runs in each thread first (a test client, a connection…) and returns the
    attempt; the attempts start together once every thread is ready. Returns their results."""
    start = threading.Barrier(count)
    results: list[T] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            attempt = prepare()
            start.wait()
            results.append(attempt())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results
