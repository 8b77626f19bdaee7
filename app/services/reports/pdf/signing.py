"""PAdES signatures on report PDFs: made with the HSM's report-signing key, checked against the
report CA's root.

The signature is a PAdES baseline B-B signature (CMS, `ETSI.CAdES.detached`, SHA-256,
ECDSA P-256) built by pyHanko; its one private-key operation is `KeyProvider.sign` with
`SigningKey.REPORT_SIGN`, i.e. PKCS#11 in `hsm/` under the process-wide HSM lock, its login
and re-login rules and its key admission checks. No PKCS#11 code lives here.

Guarantees:
- `sign` embeds the signer certificate and the root (so a verifier that trusts the root needs
  nothing else), signs the whole file as rendered (one signature over every byte but its own
  contents) and dates it `signing_time` (the service's clock), never the host's; the field
  has no widget of its own: the page itself says, in the report's embedded font, that the
  report is signed (a reader's signature panel shows the signature and its chain);
- an HSM failure propagates (`HsmUnavailable`, ...): no unsigned or half-signed PDF is returned;
- `check` never raises for bad input: anything that is not a PDF with exactly one intact,
  valid signature covering the whole file, chained to `root`, is reported as what it is.
"""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from asn1crypto import algos, cms  # type: ignore[import-untyped]
from asn1crypto import x509 as ax
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.attributes import CMSAttributeProvider, SignedAttributeProviderSpec
from pyhanko.sign.general import SigningError, as_signing_certificate_v2, simple_cms_attribute
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from app.services.reports.pdf.certificates import SigningChain
from crypto.keys import KeyProvider, SigningKey

FIELD_NAME = "CreditGateReportSignature"
#: Bytes reserved for the CMS object (two certificates, signed attributes, one signature: about
#: 1.3 KB); a fixed size spares pyHanko a trial signature per PDF.
CMS_BYTES = 6144


class SigningCertificateAttribute(CMSAttributeProvider):
    """The ESS signing-certificate-v2 attribute of one certificate, encoded once.

    pyHanko's own provider rebuilds this attribute for every signature, and asn1crypto then
    re-encodes the freshly built tree (issuer name, serial, hash) each time the signed
    attributes are serialized, which is most of a signature's CPU time; this one keeps the
    DER and hands each signature a freshly parsed, never-mutated copy of the same value."""

    attribute_type = "signing_certificate_v2"

    def __init__(self, signer_certificate: ax.Certificate) -> None:
        value = as_signing_certificate_v2(signer_certificate, "sha256")
        built = simple_cms_attribute(self.attribute_type, value)  # type: ignore[no-untyped-call]
        self.der = bytes(built.dump())

    async def get_attribute(self, dry_run: bool = False) -> cms.CMSAttribute:
        return cms.CMSAttribute.load(self.der)


class PadesSignedAttributes(SignedAttributeProviderSpec):
    """The signed attributes of a PAdES baseline signature without a time-stamp, as pyHanko's
    `CAdESSignedAttributeProviderSpec` makes them for a PDF (content type and message digest
    are added by pyHanko; PAdES forbids the CMS signing-time: the time is the signature
    dictionary's /M): only the signing certificate, here encoded once per signer."""

    def __init__(self, signer_certificate: ax.Certificate) -> None:
        self.signing_certificate = SigningCertificateAttribute(signer_certificate)

    def signed_attr_providers(
        self, data_digest: bytes, digest_algorithm: str
    ) -> Iterable[CMSAttributeProvider]:
        return (self.signing_certificate,)


class HsmSigner(signers.Signer):
    """A pyHanko signer whose raw signature is the HSM's ECDSA P-256 over SHA-256; its
    certificates and signed attributes are parsed and encoded once (see `_signer`)."""

    def __init__(self, provider: KeyProvider, chain: SigningChain) -> None:
        signer_cert = chain.signer_certificate
        super().__init__(
            signing_cert=signer_cert,
            cert_registry=SimpleCertificateStore.from_certs(  # type: ignore[no-untyped-call]
                [signer_cert, chain.root_certificate]
            ),
            signature_mechanism=algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}),
            embed_roots=True,
        )
        self.signed_attr_prov_spec = PadesSignedAttributes(signer_cert)
        self._provider = provider

    async def async_sign_raw(
        self, data: bytes, digest_algorithm: str, dry_run: bool = False
    ) -> bytes:
        if digest_algorithm != "sha256":
            raise SigningError("report signatures use SHA-256 only")
        if dry_run:
            return bytes(72)  # the longest DER ECDSA P-256 signature
        raw = self._provider.sign(SigningKey.REPORT_SIGN, bytes(data))
        return bytes(algos.DSASignature.from_p1363(raw).dump())


def sign(
    pdf: bytes, *, provider: KeyProvider, chain: SigningChain, signing_time: datetime
) -> bytes:
    """`pdf` with one PAdES signature by the HSM's report-signing key, as of `signing_time`."""
    return _event_loop().run_until_complete(_sign(pdf, _signer(provider, chain), signing_time))


_LOOPS = threading.local()


def _event_loop() -> asyncio.AbstractEventLoop:
    """This thread's event loop for pyHanko's coroutines, made once (`asyncio.run` would make
    and close a loop, with its self-pipe, for every signature). Nothing else runs on it."""
    loop: asyncio.AbstractEventLoop | None = getattr(_LOOPS, "loop", None)
    if loop is None or loop.is_closed():
        loop = _LOOPS.loop = asyncio.new_event_loop()
    return loop


_SIGNERS: dict[tuple[int, SigningChain], HsmSigner] = {}


def _signer(provider: KeyProvider, chain: SigningChain) -> HsmSigner:
    """One signer per provider and chain (the certificates parsed once); the signer holds its
    provider, so the id in the key cannot be reused while the entry lives."""
    key = (id(provider), chain)
    found = _SIGNERS.get(key)
    if found is None:
        if len(_SIGNERS) >= 4:
            _SIGNERS.clear()
        found = _SIGNERS[key] = HsmSigner(provider, chain)
    return found


async def _sign(pdf: bytes, signer: HsmSigner, signing_time: datetime) -> bytes:
    meta = signers.PdfSignatureMetadata(
        field_name=FIELD_NAME,
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        reason="个人信用报告签发 Credit report issued",
        location="CreditGate",
    )
    pdf_signer = signers.PdfSigner(
        meta, signer=signer, new_field_spec=fields.SigFieldSpec(FIELD_NAME, on_page=0)
    )
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    session = pdf_signer.init_signing_session(writer)
    session.system_time = signing_time  # the service's clock, not the host's
    tbs = session.prepare_tbs_document(validation_info=None, bytes_reserved=CMS_BYTES)
    prepared, output = tbs.digest_tbs_document(output=io.BytesIO())
    after = await tbs.perform_signature(
        document_digest=prepared.document_digest,
        pdf_cms_signed_attrs=PdfCMSSignedAttributes(signing_time=signing_time),
    )
    await after.post_signature_processing(output)
    result = output.getvalue() if isinstance(output, io.BytesIO) else b""
    if not result:
        raise SigningError("pyHanko produced no output")
    return result


class SignatureProblem(StrEnum):
    """Why a PDF's signature does not vouch for it (the public verification's reasons)."""

    NOT_A_PDF = "not_a_pdf"
    NOT_SIGNED = "not_signed"
    ALTERED = "altered"  # a signed byte changed, or something was added after signing
    NOT_OURS = "not_ours"  # intact, but not by a key the report CA certified


@dataclass(frozen=True)
class SignatureCheck:
    problem: SignatureProblem | None
    signed_at: datetime | None = None

    @property
    def sound(self) -> bool:
        return self.problem is None


#: What a malformed upload can make the PDF parser or the CMS decoder raise.
_UNREADABLE = (PdfError, SigningError, ValueError, KeyError, TypeError, IndexError, EOFError)


def check(pdf: bytes, *, root: bytes) -> SignatureCheck:
    """Whether `pdf` carries exactly one signature that is intact, cryptographically valid,
    covers the whole file and chains to `root` (DER)."""
    if not pdf.startswith(b"%PDF-"):
        return SignatureCheck(SignatureProblem.NOT_A_PDF)
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        embedded = reader.embedded_signatures
    except _UNREADABLE:
        return SignatureCheck(SignatureProblem.NOT_A_PDF)
    if not embedded:
        return SignatureCheck(SignatureProblem.NOT_SIGNED)
    if len(embedded) != 1:
        return SignatureCheck(SignatureProblem.ALTERED)
    signature = embedded[0]
    try:
        signed_at = signature.self_reported_timestamp
        context = ValidationContext(
            trust_roots=[SigningChain(b"", root).root_certificate],
            allow_fetching=False,
            revocation_mode="soft-fail",
            moment=signed_at,
        )
        status = validate_pdf_signature(signature, context, skip_diff=True)
    except _UNREADABLE:
        return SignatureCheck(SignatureProblem.ALTERED)
    if not (status.intact and status.valid):
        return SignatureCheck(SignatureProblem.ALTERED, signed_at)
    if status.coverage is not SignatureCoverageLevel.ENTIRE_FILE:
        return SignatureCheck(SignatureProblem.ALTERED, signed_at)
    if not status.trusted:
        return SignatureCheck(SignatureProblem.NOT_OURS, signed_at)
    return SignatureCheck(None, signed_at)
