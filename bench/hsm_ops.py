"""HSM operations per second through the process-wide PKCS#11 lock: 1 thread, 2 threads,
2 processes (ARCHITECTURE §6 predicts threads do not scale and processes do)."""

from __future__ import annotations

import multiprocessing
import threading
import time
from typing import Any

from bench.harness import BenchToken
from crypto.keys import MacKey, SigningKey, WrappingKey

SECONDS = 3.0


def _hmac_loop(token: BenchToken, seconds: float, out: list[int], *, provider: Any = None) -> None:
    own = provider is None
    provider = provider or token.provider()
    provider.hmac_sha256(MacKey.BLIND_INDEX, b"warm")
    count = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        provider.hmac_sha256(MacKey.BLIND_INDEX, count.to_bytes(8, "big"))
        count += 1
    out.append(count)
    if own:
        provider.close()


def _process_worker(token: BenchToken, seconds: float, queue: Any) -> None:
    out: list[int] = []
    _hmac_loop(token, seconds, out)
    queue.put(out[0])


def _rate(op: Any, n: int = 500) -> float:
    op()
    started = time.perf_counter()
    for _ in range(n):
        op()
    return n / (time.perf_counter() - started)


def run(token: BenchToken) -> dict[str, Any]:
    provider = token.provider()
    one: list[int] = []
    _hmac_loop(token, SECONDS, one, provider=provider)
    two: list[int] = []
    threads = [
        threading.Thread(
            target=_hmac_loop, args=(token, SECONDS, two), kwargs={"provider": provider}
        )
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_process_worker, args=(token, SECONDS, queue)) for _ in range(2)]
    for p in procs:
        p.start()
    totals = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join()
    key = b"\x01" * 32
    wrapped = provider.wrap(WrappingKey.MASTER, key, b"aad")
    result = {
        "hmac_per_s_1_thread": round(one[0] / SECONDS),
        "hmac_per_s_2_threads": round(sum(two) / SECONDS),
        "hmac_per_s_2_processes": round(sum(totals) / SECONDS),
        "unwrap_per_s": round(_rate(lambda: provider.unwrap(WrappingKey.MASTER, wrapped, b"aad"))),
        "sign_per_s": round(_rate(lambda: provider.sign(SigningKey.LOG_CHECKPOINT, b"checkpoint"))),
    }
    result["2_threads_vs_1"] = round(
        result["hmac_per_s_2_threads"] / result["hmac_per_s_1_thread"], 3
    )
    result["2_processes_vs_1"] = round(
        result["hmac_per_s_2_processes"] / result["hmac_per_s_1_thread"], 3
    )
    provider.close()
    return result
