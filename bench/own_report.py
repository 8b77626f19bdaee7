"""Own-report throughput on a real server, against a logged read on the same server.

Setup: a database (SQLite in WAL with `synchronous=FULL`, or PostgreSQL with
`synchronous_commit=on`: every commit on disk before an answer rests on it) seeded with demo
subjects through the real intake, a SoftHSM2 token, gunicorn (2 sync workers) serving
`bench.own_report_wsgi`, and `wrk` as the load generator in a second process on loopback.

- **own report**: `POST /api/v1/self/reports` with a card-strength session: session check,
  policy decision, open every record of the subject (AES-GCM; data keys cached) and read its
  newest 100 query records in a read snapshot, masks, then the free-report counter and the
  query-log entry with its chain in the writing unit, committed durably, then JSON.
- **baseline, logged read**: `POST /bench/logged-read` on the same server: the same rows (the
  records as unencrypted columns, the same 100 query-log rows) read in a snapshot, then one
  row written durably in a unit of its own: the irreducible cost of a logged answer. The goal
  is own ≥ 0.75× this.
- **bare read**: `GET /bench/bare-report`, the same reads and nothing written (the old
  baseline; its ratio is printed beside the goal's).
The subject queries itself on every request, so it has the report's full 100 query records
from the warm-up on: the worst case for the report's size. The endpoints alternate in many
short rounds (9 of 4 s by default: this machine's speed drifts within seconds, so the rounds
of one spell are compared with each other); the figures are medians, and each round's ratio
is reported too (`round_ratios`, and their median): their spread says how far one run's
headline can be trusted. The benchmark's policy file
differs from the reviewed one in one number only: the free self reports a year (so every
request takes the free path instead of needing a paid order).

HSM calls per query are counted in-process (a counting key provider around the SoftHSM2 one)
over requests made after a warm-up: the hot path's budget is one.

Besides throughput, every round records what the server spent per request: the CPU time of
the gunicorn workers (and, on PostgreSQL, of the database's processes), read from /proc before
and after the round, and how idle the machine's cores were meanwhile. `own_vs_bare_cpu` is the
ratio the throughput would have if nothing ever waited (bare CPU per request over own); when
the throughput ratio is below it, the own report lost time waiting (the writer lock, the disk).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from datetime import date
from pathlib import Path
from typing import Any

from bench.harness import BenchToken, postgresql_database, sqlite_database

POLICY = Path(__file__).resolve().parent.parent / "policies" / "data" / "policy.toml"
_FREE = re.compile(r"^(free_self_reports_per_year|free_per_year)\s*=\s*\d+\s*$", re.M)


def bench_policy(path: Path) -> Path:
    text, count = _FREE.subn(r"\1 = 1000000000", POLICY.read_text(encoding="utf-8"))
    if count == 0:
        raise RuntimeError("policy.toml has no free-report allowance to raise")
    path.write_text(text, encoding="utf-8")
    return path


def _env(work: Path, token: BenchToken, url: str) -> dict[str, str]:
    return {
        **os.environ,
        "CREDITGATE_MODE": "development",
        "CREDITGATE_VAR_DIR": str(work),
        "CREDITGATE_DATABASE_URL": url,
        "CREDITGATE_PKCS11_MODULE": token.module,
        "CREDITGATE_TOKEN_LABEL": token.label,
        "CREDITGATE_PIN": token.pin,
        "CREDITGATE_SECRET_KEY": secrets.token_urlsafe(48),
        "SOFTHSM2_CONF": str(token.conf),
        "CG_BENCH_POLICY": str(work / "bench-policy.toml"),
    }


class CountingProvider:
    """Counts every call into the key provider (the HSM) and passes it on."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.inner, name)
        if not callable(target):
            return target

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return target(*args, **kwargs)

        return counted


def _prepare(env: dict[str, str], token: BenchToken, subjects: int) -> tuple[str, str, str]:
    """Seed, pick the subject with the most records, give it an account and a card-strength
    session. Returns (subject id, signed session cookie, CSRF token)."""
    from sqlalchemy import func, select

    from app.demo.loader import seed_demo
    from app.factory import create_app
    from app.models import Account, AccountKind, Record
    from app.services.auth.sessions import SessionService
    from app.settings import Settings

    with token.provider() as provider:
        app = create_app(
            Settings.from_env(env),
            key_provider=provider,
            policy_path=Path(env["CG_BENCH_POLICY"]),
        )
        parts = app.extensions["creditgate"]
        seed_demo(parts, count=subjects, seed=11, batch_size=200, today=date.today())
        with parts.unit() as db:
            subject_id = db.execute(
                select(Record.subject_id, func.count())
                .group_by(Record.subject_id)
                .order_by(func.count().desc())
                .limit(1)
            ).one()[0]
            account = Account(
                username="bench-subject", kind=AccountKind.SUBJECT.value, subject_id=subject_id
            )
            db.add(account)
            db.flush()
            _plain_copy(db, parts, subject_id)
            session_id = SessionService().start(db, account, frozenset({"password", "card"}))
            principal = SessionService().resume(db, session_id, touch=False)
            assert principal is not None
        # The browser cookie is Flask's signed session holding the session id (flask-login).
        serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
        cookie = serializer.dumps({"_user_id": session_id, "_fresh": True})
        return str(subject_id), cookie, principal.csrf_token


def _plain_copy(db: Any, parts: Any, subject_id: Any) -> None:
    """The baseline's rows: the subject's identity and records decrypted once into plain
    tables of this benchmark's database (never the service's schema), so the bare endpoint
    reads the same rows unencrypted."""
    import json

    from sqlalchemy import select, text

    from app.models import Record, Subject

    subject = db.get(Subject, subject_id)
    db.execute(
        text("CREATE TABLE bench_plain_subjects (subject_id TEXT PRIMARY KEY, identity TEXT)")
    )
    db.execute(
        text("INSERT INTO bench_plain_subjects VALUES (:s, :i)"),
        {
            "s": subject_id.hex,
            "i": json.dumps(subject.unseal("identity", parts.cipher), ensure_ascii=False),
        },
    )

    db.execute(
        text(
            "CREATE TABLE bench_plain_records (subject_id TEXT, record_id TEXT, record_type TEXT,"
            " occurred_on TEXT, ended_on TEXT, display_until TEXT, fields TEXT)"
        )
    )
    for record in db.scalars(select(Record).where(Record.subject_id == subject_id)):
        db.execute(
            text("INSERT INTO bench_plain_records VALUES (:s, :r, :t, :o, :e, :d, :f)"),
            {
                "s": subject_id.hex,
                "r": str(record.id),
                "t": record.record_type,
                "o": record.occurred_on.isoformat(),
                "e": record.ended_on.isoformat() if record.ended_on else None,
                "d": record.display_until.isoformat() if record.display_until else None,
                "f": json.dumps(record.unseal("payload", parts.cipher), ensure_ascii=False),
            },
        )
    db.execute(text("CREATE INDEX bench_plain_subject ON bench_plain_records (subject_id)"))
    db.execute(
        text(
            "CREATE TABLE bench_reads (id TEXT PRIMARY KEY, at TIMESTAMP WITH TIME ZONE,"
            " subject_id TEXT)"
        )
    )


def hsm_calls_per_query(
    env: dict[str, str], token: BenchToken, cookie: str, csrf: str, requests: int = 200
) -> dict[str, Any]:
    from app.factory import create_app
    from app.settings import Settings

    with token.provider() as provider:
        counting = CountingProvider(provider)
        app = create_app(
            Settings.from_env(env), key_provider=counting, policy_path=Path(env["CG_BENCH_POLICY"])
        )
        client = app.test_client()
        client.set_cookie("__Host-cg_session", cookie)
        headers = {"X-CSRF-Token": csrf}
        for _ in range(20):  # warm-up: data keys unwrapped once, then cached
            answer = client.post("/api/v1/self/reports", json={}, headers=headers)
            if answer.status_code != 200:
                raise RuntimeError(f"own report answered {answer.status_code}: {answer.json}")
        counting.calls = 0
        for _ in range(requests):
            assert client.post("/api/v1/self/reports", json={}, headers=headers).status_code == 200
        return {
            "requests": requests,
            "hsm_calls": counting.calls,
            "hsm_calls_per_query": round(counting.calls / requests, 3),
        }


def _analyze(url: str) -> None:
    """Give PostgreSQL's planner the statistics a running service has (autovacuum's ANALYZE
    would, a minute later): without them, a query log that grew from empty during the warm-up
    is estimated at a handful of rows and the newest-100 query records are sorted from a bitmap
    scan instead of read backwards from the (subject_bidx, seq) index. Same for both
    endpoints: they read these rows with the same statement."""
    from sqlalchemy import text

    from app.db import make_engine

    engine = make_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("ANALYZE"))
    engine.dispose()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("gunicorn exited during start-up")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("gunicorn did not become ready")


#: Each round measures these in this order.
ENDPOINTS = ("logged", "own", "bare")
_LUA = """
wrk.method = "{method}"
wrk.body = "{body}"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Cookie"] = "__Host-cg_session={cookie}"
wrk.headers["X-CSRF-Token"] = "{csrf}"
"""
_UNIT = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip()).groups()  # type: ignore[union-attr]
    return float(number) * _UNIT[unit]


class ServerCpu:
    """CPU seconds used so far by the server's processes: the gunicorn workers (children of
    `server_pid`) and, when `database` is True, PostgreSQL's processes; and the machine's idle
    seconds (/proc/stat: idle + iowait over all cores)."""

    def __init__(self, server_pid: int, database: bool) -> None:
        self.server_pid = server_pid
        self.database = database
        self.tick = os.sysconf("SC_CLK_TCK")

    def pids(self) -> list[str]:
        found = subprocess.run(
            ["pgrep", "-P", str(self.server_pid)], capture_output=True, text=True
        ).stdout.split()
        if self.database:
            found += subprocess.run(
                ["pgrep", "-f", "^postgres"], capture_output=True, text=True
            ).stdout.split()
        return found

    def used(self, pids: list[str]) -> float:
        ticks = 0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # a process that ended between the two readings
            ticks += int(fields[11]) + int(fields[12])  # utime + stime
        return ticks / self.tick

    def idle(self) -> tuple[float, float]:
        fields = [int(value) for value in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        return (fields[3] + fields[4]) / self.tick, sum(fields) / self.tick


def wrk(
    url: str, script: Path, seconds: int, connections: int, cpu: ServerCpu | None = None
) -> dict[str, float]:
    if cpu is not None:
        pids = cpu.pids()
        used_before, (idle_before, total_before) = cpu.used(pids), cpu.idle()
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\n\s+50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\n\s+99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if non_2xx:
        raise RuntimeError(f"{non_2xx.group(1)} failed responses from {url}")
    sample = {"requests_per_s": rate, "p50_ms": p50, "p99_ms": p99}
    if cpu is not None:
        requests = rate * seconds
        idle_after, total_after = cpu.idle()
        sample["server_cpu_us_per_request"] = round(
            (cpu.used(pids) - used_before) / requests * 1e6, 1
        )
        sample["machine_idle_pct"] = round(
            100 * (idle_after - idle_before) / max(total_after - total_before, 1e-9), 1
        )
    return sample


def run(
    base: Path,
    token: BenchToken,
    *,
    subjects: int = 300,
    seconds: int = 4,
    rounds: int = 9,
    connections: int = 4,
    backend: str = "sqlite",
) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (make bench installs it)")
    work = base / f"own-report-{backend}"
    work.mkdir()
    url = (
        sqlite_database(work, "own-report")
        if backend == "sqlite"
        else postgresql_database("own-report")
    )
    env = _env(work, token, url)
    bench_policy(Path(env["CG_BENCH_POLICY"]))
    subject_id, cookie, csrf = _prepare(env, token, subjects)
    env["CG_BENCH_SUBJECT"] = subject_id
    calls = hsm_calls_per_query(env, token, cookie, csrf)
    scripts = {}
    for name, method, body in (
        ("own", "POST", "{}"),
        ("logged", "POST", "{}"),
        ("bare", "GET", ""),
    ):
        scripts[name] = work / f"{name}.lua"
        scripts[name].write_text(
            _LUA.format(
                method=method,
                body=body,
                cookie=cookie if name == "own" else "",
                csrf=csrf if name == "own" else "",
            ),
            encoding="utf-8",
        )
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "bench.own_report_wsgi:app",
        ],
        env=env,
        cwd=Path(__file__).resolve().parent.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_ready(port, server)
        urls = {
            "own": f"http://127.0.0.1:{port}/api/v1/self/reports",
            "logged": f"http://127.0.0.1:{port}/bench/logged-read",
            "bare": f"http://127.0.0.1:{port}/bench/bare-report",
        }
        for name in ENDPOINTS:
            wrk(urls[name], scripts[name], 2, connections)  # warm-up
        if backend == "postgresql":
            _analyze(url)
        samples: dict[str, list[dict[str, float]]] = {name: [] for name in ENDPOINTS}
        cpu = ServerCpu(server.pid, database=backend == "postgresql")
        for _ in range(rounds):
            for name in ENDPOINTS:
                samples[name].append(wrk(urls[name], scripts[name], seconds, connections, cpu))
    finally:
        server.terminate()
        server.wait(timeout=30)

    def median(name: str, key: str) -> float:
        return statistics.median(sample[key] for sample in samples[name])

    own = median("own", "requests_per_s")
    logged, bare = median("logged", "requests_per_s"), median("bare", "requests_per_s")

    def ratios(baseline: str) -> list[float]:
        return [
            round(own_round["requests_per_s"] / base_round["requests_per_s"], 3)
            for own_round, base_round in zip(samples["own"], samples[baseline], strict=True)
        ]

    p50, p99 = median("own", "p50_ms"), median("own", "p99_ms")
    own_cpu = median("own", "server_cpu_us_per_request")
    return {
        "backend": backend,
        "subjects": subjects,
        "connections": connections,
        "seconds_per_round": seconds,
        "rounds": rounds,
        "own_report_requests_per_s": own,
        "logged_read_requests_per_s": logged,
        "bare_requests_per_s": bare,
        "own_vs_logged_read": round(own / logged, 3),
        "round_ratios": ratios("logged"),
        "median_round_ratio": round(statistics.median(ratios("logged")), 3),
        "own_vs_bare": round(own / bare, 3),
        "own_p50_ms": p50,
        "own_p99_ms": p99,
        "own_p99_over_p50": round(p99 / p50, 2),
        "own_server_cpu_us_per_request": own_cpu,
        "logged_server_cpu_us_per_request": median("logged", "server_cpu_us_per_request"),
        "bare_server_cpu_us_per_request": median("bare", "server_cpu_us_per_request"),
        "own_vs_logged_cpu": round(median("logged", "server_cpu_us_per_request") / own_cpu, 3),
        "own_machine_idle_pct": median("own", "machine_idle_pct"),
        "logged_machine_idle_pct": median("logged", "machine_idle_pct"),
        "samples": samples,
        **calls,
    }
