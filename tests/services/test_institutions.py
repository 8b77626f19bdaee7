"""Institution registration and administration: the service and the `flask institutions` CLI."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
from cryptography.x509.oid import NameOID
from flask import Flask
from sqlalchemy import select

from app.container import container
from app.models import AccessToken, Institution
from app.models.base import utcnow
from app.services.oauth.bearer import token_hash
from app.services.oauth.institutions import (
    SCOPES,
    InstitutionError,
    InstitutionService,
    Scope,
    load_public_key,
)
from crypto.keys import KeyProvider
from policies.identifiers import make_credit_code
from tests.conftest import make_app, make_settings

GOOD_CODE = "91350100M000100Y43"


def spki(key: object) -> bytes:
    public = key.public_key()  # type: ignore[attr-defined]
    pem: bytes = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem


def ec_pem() -> bytes:
    return spki(ec.generate_private_key(ec.SECP256R1()))


def register(app: Flask, key_pem: bytes, code: str = GOOD_CODE, **kw: object) -> str:
    with container(app).unit() as db:
        view = InstitutionService().register(
            db,
            credit_code=code,
            name=str(kw.get("name", "Chongqing Rural Commercial Bank")),
            public_key_pem=key_pem,
            scopes=kw.get("scopes", (Scope.REPORT_QUERY.value,)),  # type: ignore[arg-type]
        )
    return view.client_id


# --- keys ------------------------------------------------------------------------------------


def test_ec_p256_and_rsa_keys_are_accepted_and_normalised() -> None:
    ec_key = load_public_key(ec_pem())
    assert (ec_key.algorithm, ec_key.description) == ("ES256", "EC P-256")
    assert ec_key.pem.startswith("-----BEGIN PUBLIC KEY-----")
    rsa_2048 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pkcs1 = rsa_2048.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.PKCS1
    )
    loaded = load_public_key(pkcs1)  # "BEGIN RSA PUBLIC KEY" is stored as SPKI
    assert (loaded.algorithm, loaded.description) == ("RS256", "RSA 2048")
    assert loaded.pem == spki(rsa_2048).decode()


def _self_signed_certificate() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bank")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: spki(dsa.generate_private_key(key_size=2048)), "not DSA"),
        (
            lambda: spki(rsa.generate_private_key(public_exponent=65537, key_size=1024)),  # noqa: S505
            "this one has 1024",
        ),
        (lambda: spki(ec.generate_private_key(ec.SECP384R1())), "on secp384r1"),
        (lambda: spki(ed25519.Ed25519PrivateKey.generate()), "not EdDSA"),
        (
            lambda: ec.generate_private_key(ec.SECP256R1()).private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
            "holds a private key",
        ),
        (_self_signed_certificate, "holds a certificate"),
        (lambda: b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "not a PEM"),
        (lambda: b"", "not a PEM"),
    ],
)
def test_unacceptable_keys_are_refused_clearly(make: object, message: str) -> None:
    data: bytes = make()  # type: ignore[operator]
    with pytest.raises(InstitutionError, match=re.escape(message)) as refused:
        load_public_key(data)
    body = b"".join(data.splitlines()[1:-1]).decode()
    assert not body or body[:24] not in str(refused.value)  # the file is not echoed


# --- registration ----------------------------------------------------------------------------


def test_register_stores_a_validated_institution(app: Flask) -> None:
    client_id = register(app, ec_pem(), code=" 91350100m000100y43 ", scopes=sorted(SCOPES))
    assert re.fullmatch(r"inst-[0-9a-f]{16}", client_id)
    with container(app).unit() as db:
        row = db.scalars(select(Institution)).one()
    assert row.client_id == client_id
    assert row.credit_code == GOOD_CODE  # normalised
    assert row.status == "active"
    assert row.scopes == " ".join(sorted(SCOPES))
    assert row.public_key_pem.startswith("-----BEGIN PUBLIC KEY-----")


@pytest.mark.parametrize(
    ("code", "part", "words"),
    [
        ("91350100M000100Y44", "check_character", "check character"),
        ("91350100M000100Y4", "length", "exactly 18 characters"),
        ("91350100M00O100Y43", "charset", "capital letters other than I, O"),
        ("91350100M000101Y43", "organisation_code", "organisation code"),
    ],
)
def test_a_bad_credit_code_is_refused_naming_the_part(
    app: Flask, code: str, part: str, words: str
) -> None:
    with pytest.raises(InstitutionError) as refused:
        register(app, ec_pem(), code=code)
    assert words in str(refused.value)
    assert f"(part: {part})" in str(refused.value)
    with container(app).unit() as db:
        assert db.scalars(select(Institution)).all() == []


def test_one_institution_per_credit_code_and_closed_scopes(app: Flask) -> None:
    first = register(app, ec_pem())
    with pytest.raises(InstitutionError, match=f"already registered .client id {first}"):
        register(app, ec_pem())
    other = make_credit_code("9", "1", "350100", "MA000777")
    with pytest.raises(InstitutionError, match="unknown scope 'institution:everything'"):
        register(app, ec_pem(), code=other, scopes=("institution:everything",))
    with pytest.raises(InstitutionError, match="at least one scope"):
        register(app, ec_pem(), code=other, scopes=())
    with pytest.raises(InstitutionError, match="name"):
        register(app, ec_pem(), code=other, name="   ")


def _live_token(app: Flask, client_id: str, token: str) -> None:
    with container(app).unit() as db:
        institution = db.scalars(select(Institution).where(Institution.client_id == client_id))
        db.add(
            AccessToken(
                token_hash=token_hash(token),
                institution_id=institution.one().id,
                scopes=Scope.REPORT_QUERY.value,
                expires_at=utcnow() + timedelta(minutes=5),
            )
        )


def test_disable_and_rotate_revoke_live_tokens(app: Flask) -> None:
    client_id = register(app, ec_pem())
    _live_token(app, client_id, "a" * 43)
    service = InstitutionService()
    with container(app).unit() as db:
        assert service.rotate_key(db, client_id, ec_pem()) == 1
        current = db.scalars(select(Institution)).one().public_key_pem.encode()
        with pytest.raises(InstitutionError, match="already registered"):
            service.rotate_key(db, client_id, current)
    _live_token(app, client_id, "b" * 43)
    with container(app).unit() as db:
        assert service.disable(db, client_id) == 1
        assert service.get(db, client_id).status == "disabled"
        assert all(row.revoked_at is not None for row in db.scalars(select(AccessToken)))
        with pytest.raises(InstitutionError, match="no institution has this client id"):
            service.disable(db, "inst-0000000000000000")


# --- the CLI ---------------------------------------------------------------------------------


def _key_file(tmp_path: Path, data: bytes, name: str = "bank.pem") -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def test_cli_register_list_disable_rotate(app: Flask, tmp_path: Path) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=[
            "institutions", "register",
            "--credit-code", GOOD_CODE,
            "--name", "Chongqing Rural Commercial Bank",
            "--public-key", _key_file(tmp_path, ec_pem()),
            "--scope", "institution:report:query",
            "--scope", "institution:consent:verify",
        ]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    client_id = re.search(r"client_id: (inst-[0-9a-f]{16})", result.output)
    assert client_id is not None
    # the pinned public URL of the settings (the test settings' default), never a default port
    assert "token endpoint: http://localhost/api/v1/oauth/token" in result.output
    assert "aud = http://localhost/api/v1/oauth/token," in result.output
    assert "ES256" in result.output

    listed = runner.invoke(args=["institutions", "list"])
    assert client_id[1] in listed.output
    assert "active" in listed.output
    assert "EC P-256" in listed.output

    rsa_pem = spki(rsa.generate_private_key(public_exponent=65537, key_size=3072))
    refused = runner.invoke(
        args=[
            "institutions", "rotate-key",
            "--client-id", client_id[1],
            "--public-key", _key_file(tmp_path, rsa_pem, "rsa.pem"),
        ]
    )  # fmt: skip
    assert refused.exit_code != 0
    assert "new keys must be EC P-256" in refused.output
    new_pem = spki(ec.generate_private_key(ec.SECP256R1()))
    rotated = runner.invoke(
        args=[
            "institutions", "rotate-key",
            "--client-id", client_id[1],
            "--public-key", _key_file(tmp_path, new_pem, "new.pem"),
        ]
    )  # fmt: skip
    assert rotated.exit_code == 0, rotated.output
    assert "EC P-256" in rotated.output

    disabled = runner.invoke(args=["institutions", "disable", "--client-id", client_id[1]])
    assert disabled.exit_code == 0, disabled.output
    assert "disabled" in runner.invoke(args=["institutions", "list"]).output


def test_cli_refusals_are_clear_and_change_nothing(app: Flask, tmp_path: Path) -> None:
    runner = app.test_cli_runner()
    base = ["institutions", "register", "--name", "Bank", "--scope", "institution:report:query"]
    bad_code = runner.invoke(
        args=[
            *base,
            "--credit-code",
            "91350100M000100Y44",
            "--public-key",
            _key_file(tmp_path, ec_pem()),
        ]
    )
    assert bad_code.exit_code != 0
    assert "check character" in bad_code.output
    dsa_pem = spki(dsa.generate_private_key(key_size=2048))
    bad_key = runner.invoke(
        args=[*base, "--credit-code", GOOD_CODE, "--public-key", _key_file(tmp_path, dsa_pem)]
    )
    assert bad_key.exit_code != 0
    assert "not DSA" in bad_key.output
    bad_scope = runner.invoke(
        args=[
            "institutions", "register", "--name", "Bank", "--credit-code", GOOD_CODE,
            "--public-key", _key_file(tmp_path, ec_pem()), "--scope", "institution:all",
        ]
    )  # fmt: skip
    assert bad_scope.exit_code != 0
    assert "institution:all" in bad_scope.output
    unknown = runner.invoke(args=["institutions", "disable", "--client-id", "inst-nope"])
    assert unknown.exit_code != 0
    assert "no institution has this client id" in unknown.output
    assert "no institutions registered" in runner.invoke(args=["institutions", "list"]).output


def test_cli_register_prints_the_token_endpoint_under_the_pinned_public_url(
    database_url: str, key_provider: KeyProvider, tmp_path: Path
) -> None:
    settings = make_settings(
        database_url, tmp_path, public_url="https://creditgate.example.gov.cn:8443"
    )
    app = make_app(settings, key_provider=key_provider)
    result = app.test_cli_runner().invoke(
        args=[
            "institutions", "register",
            "--credit-code", GOOD_CODE,
            "--name", "Chongqing Rural Commercial Bank",
            "--public-key", _key_file(tmp_path, ec_pem()),
            "--scope", "institution:report:query",
        ]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    url = "https://creditgate.example.gov.cn:8443/api/v1/oauth/token"
    assert f"token endpoint: {url}" in result.output
    assert "8080" not in result.output
