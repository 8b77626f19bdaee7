"""`make bench` / `python -m bench [--quick]`: every figure with its same-run baseline.

Goals (reported, never asserted in tests): sealed ingest >= 0.25x plain insert; query-log
verification >= 100,000 entries/s (`python -m bench.log_verify` runs it alone).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from bench import hsm_ops, ingest, log_verify, lookup
from bench.harness import BenchToken, machine, save
from policies.catalog import load_catalog


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--subjects", type=int, default=100_000, help="city size for lookups")
    parser.add_argument("--ingest-subjects", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--log-entries", type=int, default=200_000)
    args = parser.parse_args()
    if args.quick:
        args.subjects, args.ingest_subjects, args.rounds = 5000, 500, 1
        args.log_entries = 20_000
    catalog = load_catalog()
    with tempfile.TemporaryDirectory(prefix="cg-bench-") as tmp:
        base = Path(tmp)
        token = BenchToken(base)
        results = {
            "machine": machine(),
            "catalog_version": catalog.version,
            "hsm": hsm_ops.run(token),
            "ingest": ingest.run(
                base, token, catalog, subjects=args.ingest_subjects, rounds=args.rounds
            ),
            "lookup": lookup.run(base, token, catalog, subjects=args.subjects, lookups=5000),
            "log_verify": log_verify.run(
                base, token, entries=args.log_entries, rounds=max(args.rounds, 3)
            ),
        }
    results["lookup"].pop("small_db", None)
    path = save(results)
    print(json.dumps(results, indent=2))
    print(
        f"\nsealed ingest vs plain insert: {results['ingest']['sealed_vs_plain']}x (goal >= 0.25x)"
    )
    log = results["log_verify"]
    print(
        f"query-log verify: {log['verify_entries_per_s']:,} entries/s over {log['entries']:,} "
        f"({log['verify_vs_stream']}x plain streaming; goal >= 100,000 entries/s)"
    )
    print(f"results written to {path}")


if __name__ == "__main__":
    main()
