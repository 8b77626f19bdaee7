"""Shared pieces of the benchmark harness: a throw-away SoftHSM2 token and database, timing.

Every figure is reported next to a baseline measured in the same run on the same machine, and
as a ratio; nothing here asserts a time.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import secrets
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.db import make_engine, make_session_factory
from app.migrate import upgrade
from app.services.keys.lifecycle import data_key_loader
from crypto.fields import FieldCipher
from crypto.keyring import DataKeyRing
from hsm import Pkcs11KeyProvider, provision_service_keys
from hsm.softhsm import find_softhsm_module, init_softhsm_token, write_softhsm_config

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class BenchToken:
    """A SoftHSM2 token with the service keys, private to this benchmark run."""

    base: Path
    module: str = field(init=False)
    conf: Path = field(init=False)
    pin: str = field(init=False, repr=False)
    label: str = "cg-bench"

    def __post_init__(self) -> None:
        self.module = find_softhsm_module()
        self.conf = write_softhsm_config(self.base / "tokens", self.base / "softhsm2.conf")
        self.pin = secrets.token_urlsafe(12)
        init_softhsm_token(self.conf, self.label, secrets.token_urlsafe(12), self.pin)
        with self.provider() as provider:
            provision_service_keys(provider)

    def provider(self) -> Pkcs11KeyProvider:
        return Pkcs11KeyProvider(
            module_path=self.module,
            token_label=self.label,
            pin=self.pin,
            init_lock_path=self.base / "hsm.lock",
            softhsm_conf=self.conf,
        )


def sqlite_database(base: Path, name: str) -> str:
    url = f"sqlite:///{base / f'{name}.db'}"
    upgrade(url)
    return url


#: The local PostgreSQL that `make test` starts (trust auth on 127.0.0.1).
PG_ADMIN_URL = os.environ.get(
    "CREDITGATE_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def postgresql_database(name: str) -> str:
    """A fresh PostgreSQL database for one benchmark (dropped and re-created), migrated."""
    from sqlalchemy import text

    admin = make_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    database = f"cg_bench_{name.replace('-', '_')}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{database}"'))
    admin.dispose()
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{database}"
    upgrade(url)
    return url


def cipher_for(url: str, provider: Pkcs11KeyProvider) -> tuple[Any, Any, FieldCipher]:
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    return engine, sessions, FieldCipher(DataKeyRing(provider, data_key_loader(sessions)))


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def median_rate(samples: list[tuple[int, float]]) -> float:
    return statistics.median(count / seconds for count, seconds in samples)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
    }


def save(results: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / time.strftime("bench-%Y%m%d-%H%M%S.json")
    path.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    return path
