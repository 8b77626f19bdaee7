"""Signed PDF reports on real sealed records and the real SoftHSM2 token: the rendering (text
layer, sections, fonts), the PAdES signature (pyHanko, poppler's pdfsig), and what fails."""

from __future__ import annotations

import hashlib
import io
import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from flask import Flask
from pyhanko.pdf_utils.reader import PdfFileReader

from app.container import container
from app.services.reports.pdf import signing
from app.services.reports.pdf.certificates import (
    SigningChain,
    SigningNotReady,
    certify,
    root_certificate,
    signer_certificate,
    signing_chain,
)
from app.services.reports.pdf.signing import SignatureProblem
from crypto.keys import HsmUnavailable, SigningKey
from tests.fakes import InMemoryKeyProvider
from tests.pdf.helpers import (
    NAME,
    SECTION_HEADINGS,
    VERIFY_URL,
    a_subject,
    chain_for,
    flip_signed_byte,
    issue,
    page_texts,
    pdf_reports,
    pdftotext,
    report_document,
    with_incremental_update,
)

BIN = Path(__file__).resolve().parents[2] / ".venv" / "bin"


def _positions(text: str, words: tuple[str, ...]) -> list[int]:
    return [text.index(word) for word in words]


# ------------------------------------------------------------------------------ certificates


def test_certify_makes_the_root_once_and_a_signer_it_issued(app: Flask) -> None:
    parts = container(app)
    now = parts.clock.now()
    with parts.unit() as db:
        first = certify(db.connection(), parts.key_provider, now=now)
        again = certify(db.connection(), parts.key_provider, now=now)
    assert (first.new_root, first.new_signer) == (True, True)
    assert (again.new_root, again.new_signer) == (False, False)
    assert again.chain == first.chain

    root = x509.load_der_x509_certificate(first.chain.root)
    signer = x509.load_der_x509_certificate(first.chain.signer)
    assert root.issuer == root.subject == signer.issuer
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert signer.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    usage = signer.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature
    assert usage.content_commitment
    root_key = root.public_key()
    assert isinstance(root_key, ec.EllipticCurvePublicKey)
    root_key.verify(root.signature, root.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256()))
    root_key.verify(signer.signature, signer.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256()))
    # the certified key is the HSM's report-signing key, the root's the report CA key
    spki = signer.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    assert spki == parts.key_provider.public_key_der(SigningKey.REPORT_SIGN)
    root_spki = root_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    assert root_spki == parts.key_provider.public_key_der(SigningKey.REPORT_CA)


def test_no_certificate_means_no_signing(app: Flask) -> None:
    parts = container(app)
    with parts.snapshot() as db, pytest.raises(SigningNotReady):
        signing_chain(db, now=datetime.now(UTC))


# ------------------------------------------------------------------------------ rendering


def test_the_self_report_reads_in_the_pboc_order_with_its_content(
    app: Flask, tmp_path: Path
) -> None:
    subject_id, id_number = a_subject(app)
    document = report_document(app, subject_id, "self")
    signed = issue(app, document)
    for text in (pdftotext(signed.content, tmp_path), "\n".join(page_texts(signed.content))):
        squeezed = re.sub(r"\s+", "", text)
        positions = _positions(squeezed, SECTION_HEADINGS)
        assert positions == sorted(positions), "sections out of the PBOC order"
        assert "个人信用报告（本人版）" in squeezed
        assert NAME in squeezed
        assert id_number in squeezed
        assert "重庆银行" in squeezed  # the loan's lender
        assert "重庆市渝中区人民法院" in squeezed  # the dishonest-debtor listing
        assert "贷款审批" in squeezed  # a query record's purpose, by its Chinese title
    pages = page_texts(signed.content)
    assert len(pages) >= 2
    report_id = document["report"]["id"]
    for page in pages:  # reference, report id and the verification address on every page
        flat = re.sub(r"\s+", "", page)
        assert signed.reference in flat
        assert report_id in flat
        assert VERIFY_URL in flat


def test_the_archive_report_masks_the_subject_and_has_no_query_records(
    app: Flask, tmp_path: Path
) -> None:
    subject_id, id_number = a_subject(app, 78)
    document = report_document(app, subject_id, "archive")
    text = re.sub(r"\s+", "", pdftotext(issue(app, document).content, tmp_path))
    assert "个人信用报告（档案查询版）" in text
    assert "查询记录" not in text
    assert id_number not in text
    assert NAME not in text
    assert f"{id_number[:6]}********{id_number[-4:]}" in text
    assert "20.00元" in text  # the fee


def test_a_field_the_decision_withholds_is_not_in_the_pdf(app: Flask, tmp_path: Path) -> None:
    subject_id, _ = a_subject(app, 79)
    document = report_document(app, subject_id, "self")
    for record in document["sections"]["financial"]:
        record["fields"].pop("lender", None)  # as if the obligations had not released it
    text = re.sub(r"\s+", "", pdftotext(issue(app, document).content, tmp_path))
    assert "重庆银行" not in text
    assert "贷款机构" not in text


def test_every_font_is_embedded(app: Flask, tmp_path: Path) -> None:
    subject_id, _ = a_subject(app, 80)
    path = tmp_path / "r.pdf"
    path.write_bytes(issue(app, report_document(app, subject_id)).content)
    fonts = subprocess.run(
        ["pdffonts", str(path)], capture_output=True, text=True, check=True, timeout=60
    ).stdout.splitlines()[2:]
    assert fonts, "no font at all"
    for line in fonts:
        _name, *_, emb, sub, uni, _obj, _gen = line.split()
        assert (emb, sub, uni) == ("yes", "yes", "yes"), line


# ------------------------------------------------------------------------------ signatures


@pytest.fixture
def signed_pdf(app: Flask, tmp_path: Path) -> tuple[Path, Path, bytes]:
    """A signed self report on disk, and the report CA's root (PEM) beside it."""
    subject_id, _ = a_subject(app, 81)
    signed = issue(app, report_document(app, subject_id))
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(signed.content)
    root = tmp_path / "root.pem"
    chain = chain_for(app)
    root.write_bytes(x509.load_der_x509_certificate(chain.root).public_bytes(Encoding.PEM))
    return pdf, root, chain.root


def _pyhanko_validate(pdf: Path, root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(BIN / "pyhanko"),
            "sign",
            "validate",
            "--pretty-print",
            "--trust-replace",  # the report CA's root alone, not the system's trust list
            "--trust",
            str(root),
            str(pdf),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_pyhanko_validates_the_signature_against_the_report_ca(
    signed_pdf: tuple[Path, Path, bytes],
) -> None:
    pdf, root, _ = signed_pdf
    done = _pyhanko_validate(pdf, root)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "The signature is judged VALID" in done.stdout
    assert "CreditGate Credit Report Signing" in done.stdout
    assert 'Trust anchor: "Common Name: CreditGate Report CA' in done.stdout
    assert "The signature covers the entire file." in done.stdout


def _nss_db(tmp_path: Path, root: Path | None) -> Path:
    db = tmp_path / "nss"
    db.mkdir(parents=True)
    subprocess.run(
        ["certutil", "-N", "-d", f"sql:{db}", "--empty-password"], check=True, timeout=60
    )
    if root is not None:
        subprocess.run(
            [
                "certutil",
                "-A",
                "-d",
                f"sql:{db}",
                "-n",
                "report-ca",
                "-t",
                "C,C,C",
                "-i",
                str(root),
            ],
            check=True,
            timeout=60,
        )
    return db


def _pdfsig(pdf: Path, nss: Path) -> str:
    done = subprocess.run(
        ["pdfsig", "-nssdir", f"sql:{nss}", str(pdf)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.stdout + done.stderr


def test_pdfsig_validates_the_signature_and_trusts_the_chain(
    signed_pdf: tuple[Path, Path, bytes], tmp_path: Path
) -> None:
    pdf, root, _ = signed_pdf
    trusting = _pdfsig(pdf, _nss_db(tmp_path / "a", root))
    assert "Signature Validation: Signature is Valid." in trusting
    assert "Certificate Validation: Certificate is Trusted." in trusting
    assert "Total document signed" in trusting
    assert "ETSI.CAdES.detached" in trusting  # PAdES
    unaware = _pdfsig(pdf, _nss_db(tmp_path / "b", None))
    assert "Signature Validation: Signature is Valid." in unaware
    assert "Certificate is Trusted." not in unaware  # trust comes from the report CA alone


def test_a_tampered_pdf_fails_every_validator(
    signed_pdf: tuple[Path, Path, bytes], tmp_path: Path
) -> None:
    pdf, root, root_der = signed_pdf
    tampered = tmp_path / "tampered.pdf"
    tampered.write_bytes(flip_signed_byte(pdf.read_bytes()))
    assert signing.check(tampered.read_bytes(), root=root_der).problem is SignatureProblem.ALTERED
    done = _pyhanko_validate(tampered, root)
    assert done.returncode != 0
    assert "The signature is judged VALID" not in done.stdout
    assert "Signature is Valid." not in _pdfsig(tampered, _nss_db(tmp_path, root))


def test_the_check_names_what_is_wrong(signed_pdf: tuple[Path, Path, bytes]) -> None:
    pdf, _, root = signed_pdf
    content = pdf.read_bytes()
    assert signing.check(content, root=root).sound
    assert signing.check(with_incremental_update(content), root=root).problem is (
        SignatureProblem.ALTERED  # a change saved after the signature
    )
    assert signing.check(b"hello", root=root).problem is SignatureProblem.NOT_A_PDF
    assert signing.check(b"%PDF-1.7 garbage", root=root).problem is SignatureProblem.NOT_A_PDF
    unsigned = content[: content.index(b"%%EOF") + 5]  # the rendered PDF, before signing
    assert signing.check(unsigned, root=root).problem is SignatureProblem.NOT_SIGNED
    other = InMemoryKeyProvider()  # a look-alike CA with the same names but other keys
    moment = datetime.now(UTC)
    foreign = SigningChain(
        signer_certificate(other, now=moment), root_certificate(other, now=moment)
    )
    forged = signing.sign(unsigned, provider=other, chain=foreign, signing_time=moment)
    assert signing.check(forged, root=root).problem is SignatureProblem.NOT_OURS


def test_the_hsm_failing_means_no_pdf(app: Flask) -> None:
    subject_id, _ = a_subject(app, 82)
    document = report_document(app, subject_id)
    chain = chain_for(app)
    dead = InMemoryKeyProvider()
    dead.down = True
    reports = pdf_reports(app)
    reports.provider = dead
    with pytest.raises(HsmUnavailable):
        reports.make(document, chain=chain, issued_at=datetime.now(UTC))


def test_each_signature_names_its_own_signer_certificate_and_no_cms_time(app: Flask) -> None:
    """The signer (and its encoded signing-certificate attribute) is kept per chain: a signature
    made after the chain changed must name the new certificate, as PAdES validators check."""
    subject_id, _ = a_subject(app, 83)
    unsigned = pdf_reports(app).layout.render(
        report_document(app, subject_id),
        reference="TEST-REFE-RENC",
        verify_url=VERIFY_URL,
        issued_at=datetime.now(UTC),
    )
    provider = InMemoryKeyProvider()
    for _ in range(2):  # a renewed signer certificate: a new chain, the same provider
        moment = datetime.now(UTC)
        chain = SigningChain(
            signer_certificate(provider, now=moment), root_certificate(provider, now=moment)
        )
        for _ in range(2):
            signed = signing.sign(unsigned, provider=provider, chain=chain, signing_time=moment)
            embedded = PdfFileReader(io.BytesIO(signed)).embedded_signatures[0]
            attrs = {a["type"].native: a["values"][0] for a in embedded.signer_info["signed_attrs"]}
            assert set(attrs) == {"content_type", "message_digest", "signing_certificate_v2"}
            named = attrs["signing_certificate_v2"]["certs"][0]["cert_hash"].native
            assert named == hashlib.sha256(chain.signer).digest()
            assert signing.check(signed, root=chain.root).sound
