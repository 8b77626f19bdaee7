"""Signed-PDF own report against the JSON own report, on the same server.

Setup as `bench.own_report` (a seeded database, SoftHSM2, gunicorn with 2 sync workers serving
`bench.own_report_wsgi`, `wrk` from a second process on loopback; the subject with the most
records, queried by itself so the report carries its full 100 query records), plus the
report CA's certificates (`flask reports certify`'s work).

- **JSON**: `POST /api/v1/self/reports` as in `bench.own_report`.
- **PDF**: the same request with `Accept: application/pdf`: the same snapshot, decision, charge
  and entry, plus the rendering (ReportLab, embedded CJK subset), the PAdES signature (pyHanko;
  one ECDSA signature in the HSM) and the issued row, all in the writing unit.

The two alternate in short rounds; the figure is the ratio of the medians (goal >= 0.25x), with
each round's ratio beside it, the server CPU per request of each, and the PDF's size and page
count. Never run by the tests.
"""

from __future__ import annotations

import io
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.harness import BenchToken, postgresql_database, sqlite_database
from bench.own_report import (
    ServerCpu,
    _env,
    _free_port,
    _prepare,
    _wait_ready,
    bench_policy,
    wrk,
)

ENDPOINTS = ("json", "pdf")
_LUA = """
wrk.method = "POST"
wrk.body = "{{}}"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "{accept}"
wrk.headers["Cookie"] = "__Host-cg_session={cookie}"
wrk.headers["X-CSRF-Token"] = "{csrf}"
"""


def _certify_and_sample(env: dict[str, str], token: BenchToken, cookie: str, csrf: str) -> bytes:
    """The report CA's certificates, and one PDF made in-process (its size and pages)."""
    from app.factory import create_app
    from app.services.reports.pdf.certificates import certify
    from app.settings import Settings

    with token.provider() as provider:
        app = create_app(
            Settings.from_env(env), key_provider=provider, policy_path=Path(env["CG_BENCH_POLICY"])
        )
        parts = app.extensions["creditgate"]
        with parts.unit() as db:
            certify(db.connection(), provider, now=parts.clock.now())
        client = app.test_client()
        client.set_cookie("__Host-cg_session", cookie)
        answer = client.post(
            "/api/v1/self/reports",
            json={},
            headers={"X-CSRF-Token": csrf, "Accept": "application/pdf"},
        )
        if answer.status_code != 200 or answer.mimetype != "application/pdf":
            raise RuntimeError(f"the PDF report answered {answer.status_code}")
        return answer.get_data()


def _pages(pdf: bytes) -> int:
    from pypdf import PdfReader

    return len(PdfReader(io.BytesIO(pdf)).pages)


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
    work = base / f"pdf-report-{backend}"
    work.mkdir()
    url = (
        sqlite_database(work, "pdf-report")
        if backend == "sqlite"
        else postgresql_database("pdf-report")
    )
    env = _env(work, token, url)
    bench_policy(Path(env["CG_BENCH_POLICY"]))
    subject_id, cookie, csrf = _prepare(env, token, subjects)
    env["CG_BENCH_SUBJECT"] = subject_id
    sample = _certify_and_sample(env, token, cookie, csrf)
    scripts = {}
    for name, accept in (("json", "application/json"), ("pdf", "application/pdf")):
        scripts[name] = work / f"{name}.lua"
        scripts[name].write_text(
            _LUA.format(accept=accept, cookie=cookie, csrf=csrf), encoding="utf-8"
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
    target = f"http://127.0.0.1:{port}/api/v1/self/reports"
    try:
        _wait_ready(port, server)
        for name in ENDPOINTS:
            wrk(target, scripts[name], 2, connections)  # warm-up (fonts, keys, caches)
        samples: dict[str, list[dict[str, float]]] = {name: [] for name in ENDPOINTS}
        cpu = ServerCpu(server.pid, database=backend == "postgresql")
        for _ in range(rounds):
            for name in ENDPOINTS:
                samples[name].append(wrk(target, scripts[name], seconds, connections, cpu))
    finally:
        server.terminate()
        server.wait(timeout=30)

    def median(name: str, key: str) -> float:
        return statistics.median(s[key] for s in samples[name])

    as_json, as_pdf = median("json", "requests_per_s"), median("pdf", "requests_per_s")
    rounds_ratio = [
        round(p["requests_per_s"] / j["requests_per_s"], 3)
        for p, j in zip(samples["pdf"], samples["json"], strict=True)
    ]
    return {
        "backend": backend,
        "subjects": subjects,
        "connections": connections,
        "seconds_per_round": seconds,
        "rounds": rounds,
        "json_requests_per_s": as_json,
        "pdf_requests_per_s": as_pdf,
        "pdf_vs_json": round(as_pdf / as_json, 3),
        "round_ratios": rounds_ratio,
        "median_round_ratio": round(statistics.median(rounds_ratio), 3),
        "json_server_cpu_us_per_request": median("json", "server_cpu_us_per_request"),
        "pdf_server_cpu_us_per_request": median("pdf", "server_cpu_us_per_request"),
        "pdf_p50_ms": median("pdf", "p50_ms"),
        "pdf_p99_ms": median("pdf", "p99_ms"),
        "pdf_bytes": len(sample),
        "pdf_pages": _pages(sample),
        "samples": samples,
    }
