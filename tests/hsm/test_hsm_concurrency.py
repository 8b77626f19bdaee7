"""Threads, forks and simultaneously starting worker processes against one SoftHSM2 token."""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from crypto.keys import MacKey, epoch_key_label
from hsm import Pkcs11KeyProvider, missing_service_keys
from hsm import session as hsm_session
from hsm.lock import HSM_LOCK
from tests.hsm.hsm_workers import (
    MAC_MESSAGES,
    Expected,
    Sample,
    Tally,
    WorkerSpec,
    check_against,
    check_samples,
    disk_check,
    ensure_epoch_worker,
    mixed_ops,
    worker,
)
from tests.softhsm_fixtures import SoftHsmEnv

pytestmark = [pytest.mark.hsm, pytest.mark.slow]

THREADS = 8
OPS_PER_THREAD = 3000
WORKERS = 4
ROUNDS = 5


def _collect(queue: Any, count: int) -> dict[int, str]:
    return dict(queue.get(timeout=120) for _ in range(count))


def test_threads_hammering_cold_providers_while_sessions_drop(
    softhsm_env: SoftHsmEnv, hsm_provider: Pkcs11KeyProvider, caplog: pytest.LogCaptureFixture
) -> None:
    """8 threads x 3,000 checked operations, 0 errors, token intact afterwards.

    The threads start together on instances that have never connected (they race into the lazy
    load and login), half share one instance, and a ninth thread keeps closing the session
    under them, so logins (which rewrite SoftHSM2's token file) happen while other threads are
    mid-operation. Without the process-wide lock this crashes SoftHSM2 or empties the token
    file; with it there must be no error at all.
    """
    expected = Expected.from_provider(hsm_provider)
    shared = softhsm_env.provider()
    own = [softhsm_env.provider() for _ in range(THREADS // 2)]
    start = threading.Barrier(THREADS + 1)
    stop = threading.Event()
    drops = 0

    def run(seed: int) -> Tally:
        provider = shared if seed % 2 == 0 else own[seed // 2]
        start.wait(timeout=30)
        return mixed_ops(provider, expected, OPS_PER_THREAD, seed)

    def drop_sessions() -> None:
        nonlocal drops
        start.wait(timeout=30)
        while not stop.wait(0.05):
            with HSM_LOCK:
                session = hsm_session.connection(shared.module_path, shared.token_label).session
                if session is not None:
                    session.close()
                    drops += 1

    dropper = threading.Thread(target=drop_sessions)
    dropper.start()
    with caplog.at_level(logging.ERROR, logger="hsm"), ThreadPoolExecutor(THREADS) as pool:
        try:
            tallies = list(pool.map(run, range(THREADS)))
        finally:
            stop.set()
            dropper.join()
    for provider in (shared, *own):
        provider.close()

    errors = [e for t in tallies for e in t.errors]
    assert errors == []
    assert sum(t.ops for t in tallies) == THREADS * OPS_PER_THREAD
    assert drops > 0
    samples: list[Sample] = [s for t in tallies for s in t.samples]
    assert len(samples) >= THREADS * 2

    # the token is intact: a new instance in this process ...
    with softhsm_env.provider() as fresh:
        assert missing_service_keys(fresh) == []
        check_against(fresh, expected)
        check_samples(fresh, samples)
    # ... and a new process reading the token files from disk
    with multiprocessing.get_context("spawn").Pool(1) as process_pool:
        assert process_pool.apply(disk_check, (softhsm_env, expected, samples)) == "ok"


def test_forked_children_while_the_parent_keeps_working(
    softhsm_env: SoftHsmEnv, hsm_provider: Pkcs11KeyProvider
) -> None:
    expected = Expected.from_provider(hsm_provider)
    stop = threading.Event()
    parent_errors: list[str] = []
    parent_ops = 0

    def keep_busy() -> None:
        nonlocal parent_ops
        while not stop.is_set():
            index = parent_ops % len(MAC_MESSAGES)
            try:
                mac = hsm_provider.hmac_sha256(MacKey.BLIND_INDEX, MAC_MESSAGES[index])
                if mac != expected.macs[index]:
                    parent_errors.append("hmac differs")
            except Exception as exc:  # noqa: BLE001 - collected and asserted below
                parent_errors.append(repr(exc))
            parent_ops += 1

    busy = threading.Thread(target=keep_busy)
    busy.start()
    try:
        for _ in range(5):
            pid = os.fork()  # while another thread is inside PKCS#11 calls
            if pid == 0:  # pragma: no cover - child
                code = 1
                try:
                    check_against(hsm_provider, expected)  # the inherited instance
                    tally = mixed_ops(hsm_provider, expected, 50, seed=99)
                    with softhsm_env.provider() as second:
                        check_against(second, expected)
                    code = 0 if not tally.errors else 3
                except BaseException:  # noqa: BLE001 - reported through the exit code
                    traceback.print_exc()
                finally:
                    os._exit(code)
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0
    finally:
        stop.set()
        busy.join()
    assert parent_errors == []
    assert parent_ops > 0
    check_against(hsm_provider, expected)


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_workers_starting_at_the_same_instant(
    softhsm_env: SoftHsmEnv, hsm_provider: Pkcs11KeyProvider, method: str
) -> None:
    expected = Expected.from_provider(hsm_provider)
    ctx: Any = multiprocessing.get_context(method)
    for _ in range(ROUNDS):
        if method == "fork":
            # like a gunicorn --preload master: built here, never used here
            spec = WorkerSpec(expected, provider=softhsm_env.provider())
        else:
            spec = WorkerSpec(expected, env=softhsm_env)
        barrier, queue = ctx.Barrier(WORKERS), ctx.Queue()
        processes = [
            ctx.Process(target=worker, args=(spec, barrier, queue, i)) for i in range(WORKERS)
        ]
        for process in processes:
            process.start()
        results = _collect(queue, WORKERS)
        for process in processes:
            process.join(timeout=60)
        assert results == dict.fromkeys(range(WORKERS), "ok"), results
        assert [p.exitcode for p in processes] == [0] * WORKERS
    check_against(hsm_provider, expected)


def test_simultaneous_epoch_key_creation_makes_one_key(
    softhsm_env: SoftHsmEnv, hsm_provider: Pkcs11KeyProvider
) -> None:
    label = epoch_key_label(2077, 7)
    ctx = multiprocessing.get_context("fork")
    barrier, queue = ctx.Barrier(WORKERS), ctx.Queue()
    processes = [
        ctx.Process(target=ensure_epoch_worker, args=(softhsm_env, label, barrier, queue, i))
        for i in range(WORKERS)
    ]
    for process in processes:
        process.start()
    results = _collect(queue, WORKERS)
    for process in processes:
        process.join(timeout=60)
    assert sorted(results.values()) == ["created"] + ["existed"] * (WORKERS - 1), results
    assert len(hsm_provider.key_attributes(label)) == 1
    assert hsm_provider.unwrap(label, hsm_provider.wrap(label, b"k", b""), b"") == b"k"
    assert hsm_provider.destroy_epoch_key(label)
