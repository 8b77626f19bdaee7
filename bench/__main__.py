"""`make bench` / `python -m bench [--quick]`: every figure with its same-run baseline.

Goals (reported, never asserted in tests): sealed ingest >= 0.25x plain insert; JSON Lines
intake of 1,000,000 records >= 0.4x a plain insert of the same rows, resident memory flat, a
correction as fast as a new record (`python -m bench.intake_jsonl` runs it alone); own report
>= 0.75x a logged read on the same server (on SQLite and on PostgreSQL), p99 <= 3x p50, no
HSM call per report in steady state; the signed-PDF own report >= 0.25x the JSON one;
query-log verification >= 100,000 entries/s (`python -m bench.log_verify` runs it alone);
grading subjects >= 0.5x opening the same records, memory flat (`python -m bench.grading`).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from bench import (
    grading,
    hsm_ops,
    ingest,
    intake_jsonl,
    log_verify,
    lookup,
    own_report,
    pdf_report,
)
from bench.harness import BenchToken, machine, save
from policies.catalog import load_catalog

FIGURES = (
    "hsm",
    "ingest",
    "intake-jsonl",
    "lookup",
    "own-report",
    "own-report-pg",
    "pdf-report",
    "pdf-report-pg",
    "log-verify",
    "grading",
)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--subjects", type=int, default=100_000, help="city size for lookups")
    parser.add_argument("--ingest-subjects", type=int, default=3000)
    parser.add_argument(
        "--intake-records", type=int, default=1_000_000, help="rows of the JSON Lines intake"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--log-entries", type=int, default=200_000)
    parser.add_argument(
        "--grading-subjects", type=int, default=100_000, help="subjects of the grading figure"
    )
    parser.add_argument(
        "--report-rounds",
        type=int,
        default=9,
        help="own-report benchmarks: rounds of logged read, own report and bare read in turn"
        " (many short rounds: the machine's speed drifts within seconds)",
    )
    parser.add_argument("--report-seconds", type=int, default=4, help="length of one round")
    parser.add_argument(
        "--only", choices=sorted(FIGURES), action="append", help="run only these figures"
    )
    args = parser.parse_args()
    wanted = set(args.only or FIGURES)
    if args.quick:
        args.subjects, args.ingest_subjects, args.rounds = 5000, 500, 1
        args.log_entries = 20_000
        args.intake_records = 20_000
        args.grading_subjects = 10_000
        args.report_rounds, args.report_seconds = 2, 3
    catalog = load_catalog()
    with tempfile.TemporaryDirectory(prefix="cg-bench-") as tmp:
        base = Path(tmp)
        token = BenchToken(base)
        results: dict[str, Any] = {"machine": machine(), "catalog_version": catalog.version}
        if "hsm" in wanted:
            results["hsm"] = hsm_ops.run(token)
        if "ingest" in wanted:
            results["ingest"] = ingest.run(
                base, token, catalog, subjects=args.ingest_subjects, rounds=args.rounds
            )
        if "intake-jsonl" in wanted:
            results["intake_jsonl"] = intake_jsonl.run(
                base, token, catalog, records=args.intake_records
            )
        if "lookup" in wanted:
            results["lookup"] = lookup.run(
                base, token, catalog, subjects=args.subjects, lookups=5000
            )
            results["lookup"].pop("small_db", None)
        if "own-report" in wanted:
            results["own_report"] = own_report.run(
                base, token, seconds=args.report_seconds, rounds=args.report_rounds
            )
        if "own-report-pg" in wanted:
            results["own_report_pg"] = own_report.run(
                base,
                token,
                seconds=args.report_seconds,
                rounds=args.report_rounds,
                backend="postgresql",
            )
        for figure, backend in (("pdf-report", "sqlite"), ("pdf-report-pg", "postgresql")):
            if figure in wanted:
                results[figure.replace("-", "_")] = pdf_report.run(
                    base,
                    token,
                    seconds=args.report_seconds,
                    rounds=args.report_rounds,
                    backend=backend,
                )
        if "log-verify" in wanted:
            results["log_verify"] = log_verify.run(
                base, token, entries=args.log_entries, rounds=max(args.rounds, 5)
            )
        if "grading" in wanted:
            results["grading"] = grading.run(
                base, token, catalog, subjects=args.grading_subjects, rounds=args.rounds
            )
    path = save(results)
    print(json.dumps(results, indent=2))
    if "ingest" in results:
        print(
            f"\nsealed ingest vs plain insert: {results['ingest']['sealed_vs_plain']}x (>= 0.25x)"
        )
    for key in ("own_report", "own_report_pg"):
        if key in results:
            own = results[key]
            print(
                f"own report vs logged read ({own['backend']}): {own['own_vs_logged_read']}x "
                f"(>= 0.75x; rounds {min(own['round_ratios'])}-{max(own['round_ratios'])}x, "
                f"median {own['median_round_ratio']}x); vs bare read {own['own_vs_bare']}x; "
                f"p99/p50 {own['own_p99_over_p50']} (<= 3); "
                f"HSM calls per query {own['hsm_calls_per_query']} (0 in steady state); "
                f"server CPU per request {own['own_server_cpu_us_per_request']:,.0f} vs "
                f"{own['logged_server_cpu_us_per_request']:,.0f} us "
                f"({own['own_vs_logged_cpu']}x), cores idle {own['own_machine_idle_pct']}% vs "
                f"{own['logged_machine_idle_pct']}%"
            )
    for key in ("pdf_report", "pdf_report_pg"):
        if key in results:
            pdf = results[key]
            print(
                f"signed PDF own report vs JSON ({pdf['backend']}): {pdf['pdf_vs_json']}x "
                f"(>= 0.25x; rounds {min(pdf['round_ratios'])}-{max(pdf['round_ratios'])}x, "
                f"median {pdf['median_round_ratio']}x); {pdf['pdf_requests_per_s']:,.0f} vs "
                f"{pdf['json_requests_per_s']:,.0f} requests/s; server CPU per request "
                f"{pdf['pdf_server_cpu_us_per_request']:,.0f} vs "
                f"{pdf['json_server_cpu_us_per_request']:,.0f} us; "
                f"{pdf['pdf_pages']} pages, {pdf['pdf_bytes']:,} bytes"
            )
    if "log_verify" in results:
        log = results["log_verify"]
        print(
            f"query-log verify: {log['verify_entries_per_s']:,} entries/s over "
            f"{log['entries']:,} entries ({log['verify_vs_stream']}x plain streaming; "
            ">= 100,000 entries/s)"
        )
    if "grading" in results:
        graded = results["grading"]
        print(
            f"grading {graded['subjects']:,} subjects: {graded['grading_vs_open_all']}x opening "
            f"the same records (>= 0.5x; {graded['grading_vs_open_needed']}x opening only what "
            f"grading opens); tracemalloc peak {graded['peak_ratio_full_vs_tenth']}x at 10x"
        )
    print(f"results written to {path}")


if __name__ == "__main__":
    main()
