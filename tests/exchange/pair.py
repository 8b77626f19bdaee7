"""Two sides of one exchange in one test process: a registry and a portal, each with its own
SoftHSM2 token and its own database, moving bundles through a directory."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import select

from app.container import container
from app.models import Record, Subject
from app.services.exchange import files
from app.services.exchange.publication import publish
from app.services.exchange.receive import Imported, import_bundle
from app.services.lists.public_lists import public_record_types
from crypto.fields import canonical_json

TODAY = date(2026, 12, 1)


@dataclass
class Pair:
    registry: Flask
    portal: Flask
    device: Path

    def export(self) -> Path | None:
        """Run the registry's export into the device; the finished bundle's path."""
        parts = container(self.registry)
        published = publish(
            parts.unit,
            parts.key_provider,
            parts.cipher,
            side="registry",
            to_dir=self.device,
            now=parts.clock.now(),
        )
        return None if published is None else published[1]

    def import_into(self, app: Flask, path: Path) -> Imported:
        parts = container(app)
        with parts.unit() as db:
            return import_bundle(
                db,
                parts.keys,
                side=parts.settings.side.value,
                path=path,
                public_types=public_record_types(parts.catalog),
            )

    def records(self, app: Flask) -> dict[uuid.UUID, tuple[str, Any]]:
        """Record id -> (status, opened payload) as the side holds them."""
        parts = container(app)
        with parts.sessions() as db:
            return {
                row.id: (row.status, row.unseal("payload", parts.cipher))
                for row in db.scalars(select(Record))
            }

    def subjects(self, app: Flask) -> dict[uuid.UUID, tuple[bytes, Any]]:
        parts = container(app)
        with parts.sessions() as db:
            return {
                row.id: (row.id_bidx, row.unseal("identity", parts.cipher))
                for row in db.scalars(select(Subject))
            }


def introduce(registry: Flask, portal: Flask, tmp_path: Path) -> None:
    """Each side hands the other its identity and registers the other's, by the commands."""
    for me, other in ((registry, portal), (portal, registry)):
        out = tmp_path / f"{container(me).settings.side.value}-identity.json"
        result = me.test_cli_runner().invoke(args=["exchange", "identity", "--out", str(out)])
        assert result.exit_code == 0, result.output
        result = other.test_cli_runner().invoke(args=["exchange", "register-peer", str(out)])
        assert result.exit_code == 0, (result.output, result.exception)


def rewrite_manifest(bundle: Path, change: Any, sign: Any) -> None:
    """Edit the manifest with `change(doc)`, keep it canonical and sign it with `sign(bytes)`."""
    doc = json.loads((bundle / files.MANIFEST).read_bytes())
    change(doc)
    raw = canonical_json(doc)
    (bundle / files.MANIFEST).write_bytes(raw)
    (bundle / files.SIGNATURE).write_bytes(sign(raw))
