"""Child process: seed N subjects into a database through the real loader; print JSON figures.

Run in its own process so its peak RSS is its own (constant-memory check: 10k vs 100k).
"""

from __future__ import annotations

import json
import secrets
import sys
from datetime import date
from pathlib import Path

from app.container import Container
from app.demo.loader import seed_demo
from app.settings import Mode, Settings, Side
from bench.harness import cipher_for, peak_rss_mib
from hsm import Pkcs11KeyProvider
from policies.catalog import load_catalog
from policies.engine import PolicyEngine
from policies.policy_data import load_policy


def main() -> None:
    url, count, module, label, conf, lock = sys.argv[1:7]
    pin = sys.stdin.readline().strip()
    provider = Pkcs11KeyProvider(
        module_path=module, token_label=label, pin=pin, init_lock_path=lock, softhsm_conf=conf
    )
    engine, sessions, cipher = cipher_for(url, provider)
    settings = Settings(
        mode=Mode.TEST,
        side=Side.REGISTRY,
        database_url=url,
        var_dir=Path(lock).parent,
        pkcs11_module=module,
        token_label=label,
        pin_file=None,
        secret_key=secrets.token_urlsafe(32),
        pin_env=None,
    )
    catalog = load_catalog()
    policy = PolicyEngine(load_policy(), catalog)
    parts = Container(settings, engine, sessions, provider, cipher, catalog, policy)
    result = seed_demo(parts, count=int(count), seed=7, batch_size=1000, today=date(2026, 11, 21))
    assert result is not None
    print(
        json.dumps(
            {
                "subjects": result.subjects_added,
                "records": result.records_added,
                "seconds": round(result.seconds, 2),
                "peak_rss_mib": round(peak_rss_mib(), 1),
            }
        )
    )
    provider.close()


if __name__ == "__main__":
    main()
