"""A registry and a portal, each with its own SoftHSM2 token and database, moving publication
bundles through a directory: what arrives opens only on the portal, changes and tombstones
follow, and every hand-edited bundle is refused with its reason and nothing of it applied."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from sqlalchemy import func, select, update

from app.container import container
from app.models import ExchangeBundle, PublicListEntry, Record
from app.models.base import as_utc
from app.services.exchange.publication import export_publication
from app.services.keys.lifecycle import delete_records
from app.settings import Side
from crypto.bundle import BundleRefused
from crypto.keys import KeyProvider, SigningKey
from tests.conftest import ScratchDatabase, make_app, make_settings
from tests.exchange.pair import TODAY, Pair, introduce, rewrite_manifest
from tests.services.report_helpers import Person, citizen_id, ingest, loan, penalty

WITHDRAWN_AT = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
ZHANG = citizen_id(11)
LI = citizen_id(12)


@pytest.fixture
def pair(
    database_url: str,
    template_database: ScratchDatabase,
    key_provider: KeyProvider,
    peer_provider: KeyProvider,
    tmp_path: Path,
) -> Iterator[Pair]:
    portal_db = template_database.clone(tmp_path)
    registry = make_app(
        make_settings(database_url, tmp_path / "registry", side=Side.REGISTRY),
        key_provider=key_provider,
    )
    portal = make_app(
        make_settings(portal_db.url, tmp_path / "portal", side=Side.PORTAL),
        key_provider=peer_provider,
    )
    introduce(registry, portal, tmp_path)
    ingest(
        registry,
        [
            Person(
                ZHANG, "张伟", (loan(date(2019, 1, 1)), penalty(date(2025, 6, 1), serious=False))
            ),
            Person(LI, "李娜", (loan(date(2020, 5, 1)),)),
        ],
        today=TODAY,
    )
    device = tmp_path / "device"
    device.mkdir()
    yield Pair(registry, portal, device)
    container(portal).engine.dispose()
    portal_db.drop()


def _sign_with_registry(pair: Pair) -> object:
    provider = container(pair.registry).key_provider
    return lambda raw: provider.sign(SigningKey.BUNDLE, raw)


def _nothing_applied(pair: Pair) -> None:
    assert pair.records(pair.portal) == {}
    parts = container(pair.portal)
    with parts.sessions() as db:
        assert db.scalar(select(func.count()).select_from(ExchangeBundle)) == 0


def test_records_arrive_sealed_for_the_portal_alone(pair: Pair) -> None:
    bundle = pair.export()
    assert bundle is not None
    every_byte = b"".join(p.read_bytes() for p in bundle.rglob("*") if p.is_file())
    for secret in (ZHANG, "张伟", "重庆银行", "LN20190001", "无照经营"):
        assert secret.encode() not in every_byte
        assert secret.encode("unicode_escape") not in every_byte

    imported = pair.import_into(pair.portal, bundle)

    assert imported.sequence == 1
    assert imported.counts == {"provider": 1, "subject": 2, "record": 3, "tombstone": 0}
    assert pair.records(pair.portal) == pair.records(pair.registry)
    registry_subjects, portal_subjects = pair.subjects(pair.registry), pair.subjects(pair.portal)
    assert {k: v[1] for k, v in portal_subjects.items()} == {
        k: v[1] for k, v in registry_subjects.items()
    }
    # the portal finds subjects by its own HSM's blind index, not the registry's
    assert all(portal_subjects[k][0] != registry_subjects[k][0] for k in registry_subjects)
    with container(pair.portal).sessions() as db:
        assert db.scalar(select(func.count()).select_from(PublicListEntry)) == 1
    assert pair.export() is None  # nothing changed since


def test_withdrawn_and_shredded_records_follow_as_tombstones(pair: Pair) -> None:
    first = pair.export()
    assert first is not None
    pair.import_into(pair.portal, first)
    parts = container(pair.registry)
    with parts.unit() as db:
        loans = list(
            db.scalars(select(Record.id).where(Record.record_type == "B.loan").order_by(Record.id))
        )
        db.execute(
            update(Record)
            .where(Record.id == loans[0])
            .values(status="withdrawn", status_changed_at=WITHDRAWN_AT)
        )
        delete_records(db, [loans[1]])  # as crypto-shredding deletes it

    second = pair.export()
    assert second is not None
    imported = pair.import_into(pair.portal, second)

    assert imported.counts["tombstone"] == 2
    on_portal = pair.records(pair.portal)
    assert on_portal[loans[0]][0] == "withdrawn"
    assert loans[1] not in on_portal
    assert len(on_portal) == 2
    with container(pair.portal).sessions() as db:
        withdrawn = db.get(Record, loans[0])
        assert withdrawn is not None
        assert withdrawn.status_changed_at is not None
        assert as_utc(withdrawn.status_changed_at) == WITHDRAWN_AT


def _flip_item(bundle: Path, pair: Pair) -> None:
    item = bundle / "items" / "000003"
    data = bytearray(item.read_bytes())
    data[20] ^= 0x01
    item.write_bytes(bytes(data))


def _edit_manifest(bundle: Path, pair: Pair) -> None:
    raw = (bundle / "manifest.json").read_bytes()
    (bundle / "manifest.json").write_bytes(raw.replace(b'"2026-', b'"2027-', 1))


def _other_key(bundle: Path, pair: Pair) -> None:
    key = ec.generate_private_key(ec.SECP256R1())

    def sign(raw: bytes) -> bytes:
        r, s = decode_dss_signature(key.sign(raw, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    rewrite_manifest(bundle, lambda doc: doc.update(created_at="2026-12-01T00:00:00Z"), sign)


def _half_copied(bundle: Path, pair: Pair) -> None:
    item = bundle / "items" / "000005"
    item.write_bytes(item.read_bytes()[:10])
    (bundle / "items" / "000006").unlink()


def _skipped_sequence(bundle: Path, pair: Pair) -> None:
    rewrite_manifest(bundle, lambda doc: doc.update(sequence=2), _sign_with_registry(pair))


def _broken_chain(bundle: Path, pair: Pair) -> None:
    rewrite_manifest(bundle, lambda doc: doc.update(previous="ab" * 32), _sign_with_registry(pair))


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (_flip_item, "item_tampered"),
        (_edit_manifest, "bad_signature"),
        (_other_key, "bad_signature"),
        (_half_copied, "incomplete"),
        (_skipped_sequence, "gap"),
        (_broken_chain, "broken_chain"),
    ],
)
def test_a_hand_edited_bundle_is_refused_and_the_good_one_still_imports(
    pair: Pair, tmp_path: Path, tamper: object, reason: str
) -> None:
    good = pair.export()
    assert good is not None
    bad = tmp_path / "bad" / good.name
    shutil.copytree(good, bad)
    tamper(bad, pair)  # type: ignore[operator]

    with pytest.raises(BundleRefused) as refused:
        pair.import_into(pair.portal, bad)

    assert refused.value.reason == reason
    _nothing_applied(pair)
    assert pair.import_into(pair.portal, good).sequence == 1
    assert len(pair.records(pair.portal)) == 3


def test_a_bundle_meant_for_the_other_side_is_refused(pair: Pair) -> None:
    bundle = pair.export()
    assert bundle is not None
    with pytest.raises(BundleRefused) as refused:
        pair.import_into(pair.registry, bundle)
    assert refused.value.reason == "wrong_receiver"


def test_a_replay_and_a_fork_are_refused_and_change_nothing(pair: Pair, tmp_path: Path) -> None:
    bundle = pair.export()
    assert bundle is not None
    pair.import_into(pair.portal, bundle)
    before = pair.records(pair.portal)

    with pytest.raises(BundleRefused) as replay:
        pair.import_into(pair.portal, bundle)
    assert replay.value.reason == "replayed"

    fork = tmp_path / "fork" / bundle.name
    shutil.copytree(bundle, fork)
    rewrite_manifest(
        fork, lambda doc: doc.update(created_at="2026-12-02T00:00:00Z"), _sign_with_registry(pair)
    )
    with pytest.raises(BundleRefused) as forked:
        pair.import_into(pair.portal, fork)
    assert forked.value.reason == "fork"
    assert pair.records(pair.portal) == before


def test_bundles_out_of_order_wait_for_the_gap_to_close(pair: Pair) -> None:
    first = pair.export()
    parts = container(pair.registry)
    with parts.unit() as db:
        some = db.scalars(select(Record.id).limit(1)).one()
        db.execute(update(Record).where(Record.id == some).values(status="withdrawn"))
    second = pair.export()
    assert first is not None
    assert second is not None

    with pytest.raises(BundleRefused) as gap:
        pair.import_into(pair.portal, second)
    assert gap.value.reason == "gap"

    assert pair.import_into(pair.portal, first).sequence == 1
    assert pair.import_into(pair.portal, second).sequence == 2
    assert pair.records(pair.portal)[some][0] == "withdrawn"


def test_the_commands_export_and_import_through_the_device(pair: Pair) -> None:
    result = pair.registry.test_cli_runner().invoke(
        args=["exchange", "export", "--to", str(pair.device)]
    )
    assert result.exit_code == 0, result.output
    assert "exported bundle 1" in result.output
    result = pair.portal.test_cli_runner().invoke(args=["exchange", "import", str(pair.device)])
    assert result.exit_code == 0, result.output
    assert "imported bundle 1" in result.output
    again = pair.portal.test_cli_runner().invoke(args=["exchange", "import", str(pair.device)])
    assert again.exit_code == 0
    assert "already imported" in again.output
    refused = pair.registry.test_cli_runner().invoke(args=["exchange", "import", str(pair.device)])
    assert refused.exit_code != 0
    assert "belongs to the portal side" in refused.output


def test_a_bundle_left_partial_by_a_crash_is_finished_by_the_next_export(pair: Pair) -> None:
    parts = container(pair.registry)
    with parts.unit() as db:  # committed, then the process died before the rename
        exported = export_publication(
            db,
            parts.key_provider,
            parts.cipher,
            side="registry",
            to_dir=pair.device,
            now=parts.clock.now(),
        )
    assert exported is not None
    with pytest.raises(BundleRefused) as unfinished:
        pair.import_into(pair.portal, exported.partial)
    assert unfinished.value.reason == "incomplete"

    assert pair.export() is None  # nothing new, but the left bundle is finished
    finished = pair.device / exported.partial.name.removesuffix(".partial")
    assert pair.import_into(pair.portal, finished).sequence == 1
    assert len(pair.records(pair.portal)) == 3


def test_the_import_command_names_a_refusal_and_applies_nothing(pair: Pair) -> None:
    result = pair.registry.test_cli_runner().invoke(
        args=["exchange", "export", "--to", str(pair.device)]
    )
    assert result.exit_code == 0, result.output
    (bundle,) = pair.device.iterdir()
    item = bundle / "items" / "000001"
    item.write_bytes(bytes([item.read_bytes()[0] ^ 0x80]) + item.read_bytes()[1:])

    refused = pair.portal.test_cli_runner().invoke(args=["exchange", "import", str(bundle)])

    assert refused.exit_code == 1
    assert "refused (item_tampered" in refused.output
    assert "nothing of it was applied" in refused.output
    _nothing_applied(pair)


def test_a_peer_is_registered_once_and_never_as_oneself(pair: Pair, tmp_path: Path) -> None:
    own = tmp_path / "portal-identity.json"  # written by `introduce`
    again = pair.registry.test_cli_runner().invoke(args=["exchange", "register-peer", str(own)])
    assert again.exit_code == 1
    assert "registered already (use --replace)" in again.output
    oneself = pair.portal.test_cli_runner().invoke(args=["exchange", "register-peer", str(own)])
    assert oneself.exit_code == 1
    assert "this portal registers the registry" in oneself.output
    replaced = pair.registry.test_cli_runner().invoke(
        args=["exchange", "register-peer", str(own), "--replace"]
    )
    assert replaced.exit_code == 0, replaced.output
