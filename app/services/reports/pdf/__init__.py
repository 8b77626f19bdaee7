"""Signed PDF credit reports: a rendering of a report document, signed in the HSM, recorded
for the public verification.

`PdfReports.issue` turns the document of one logged query (the self or archive report, exactly
as its JSON would be released) into a signed PDF with a fresh verification reference and
records it in the unit of work that logs the query, so a PDF is verifiable exactly when its
query's log entry committed (`make` and `record` are its two halves). Guarantees:
- the PDF shows the document and nothing else (`layout`), is signed PAdES by the HSM key
  `cg-report-sign` under a certificate of the platform's report CA (`signing`,
  `certificates`), and carries its reference and report id on every page;
- `make` reads and writes nothing (it may run outside any unit, holding no lock); the signing
  chain is read by the caller (`certificates.signing_chain`): no valid certificate, no font,
  or an HSM failure raise (503 upstream): an unsigned PDF never leaves;
- what is recorded holds no content (`issued`).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection

from app.services.outcomes import Attachment
from app.services.reports.pdf import issued, signing
from app.services.reports.pdf.certificates import SigningChain, signing_chain
from app.services.reports.pdf.layout import ReportLayout
from app.settings import Settings
from crypto.keys import KeyProvider
from policies.catalog import Catalog
from policies.engine import PolicyEngine

PDF_KINDS = ("self", "archive")
PDF_MEDIA_TYPE = "application/pdf"
#: What a report query may be asked for in (`?format=` or `Accept`): its JSON, or this PDF.
RENDERINGS = ("json", "pdf")
#: The public verification page (app/web/report_verification.py).
VERIFY_PATH = "/verify"


@dataclass(frozen=True)
class SignedReport:
    """A signed PDF and what is recorded of it; `reference` is printed on it."""

    content: bytes
    reference: str
    issued: issued.Issued

    def attachment(self) -> Attachment:
        """The PDF as an answer's file (its name holds the report id only)."""
        return Attachment(
            self.content, PDF_MEDIA_TYPE, f"credit-report-{self.issued.report_id}.pdf"
        )


class PdfReports:
    """Renders and signs report documents; see the package docstring."""

    def __init__(
        self,
        provider: KeyProvider,
        catalog: Catalog,
        *,
        purposes: Mapping[str, str],
        verify_url: str,
    ) -> None:
        self.provider = provider
        self.layout = ReportLayout(catalog, purposes)
        self.verify_url = verify_url

    def make(
        self, document: Mapping[str, Any], *, chain: SigningChain, issued_at: datetime
    ) -> SignedReport:
        """The signed PDF of `document` (a self or archive report), issued at `issued_at`."""
        header = document["report"]
        kind = str(header["kind"])
        if kind not in PDF_KINDS:
            raise ValueError(f"only {' and '.join(PDF_KINDS)} reports are issued as PDF")
        reference = issued.new_reference()
        rendered = self.layout.render(
            document, reference=reference, verify_url=self.verify_url, issued_at=issued_at
        )
        signed = signing.sign(rendered, provider=self.provider, chain=chain, signing_time=issued_at)
        return SignedReport(
            signed,
            reference,
            issued.Issued(
                reference_hash=issued.reference_hash(reference),
                report_id=uuid.UUID(str(header["id"])),
                kind=kind,
                document_sha256=hashlib.sha256(signed).digest(),
                issued_at=issued_at,
            ),
        )

    @staticmethod
    def record(connection: Connection, report: SignedReport) -> None:
        """Record the issued PDF in the unit of work that logs its query."""
        issued.record(connection, report.issued)

    def issue(
        self, connection: Connection, document: Mapping[str, Any], *, at: datetime
    ) -> SignedReport:
        """The signed PDF of `document`, issued at `at` and recorded in the unit of work
        `connection` (the one that logs its query, so that it is verifiable exactly when
        the entry commits). `SigningNotReady` without a valid certificate."""
        signed = self.make(document, chain=signing_chain(connection, now=at), issued_at=at)
        self.record(connection, signed)
        return signed


class Parts(Protocol):
    """What `pdf_reports` needs of the container (structural: services do not import it)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def key_provider(self) -> KeyProvider: ...

    @property
    def catalog(self) -> Catalog: ...

    @property
    def policy(self) -> PolicyEngine: ...


def verify_url(settings: Settings) -> str:
    """Where a PDF sends its reader to verify it: `CREDITGATE_PUBLIC_URL` + `/verify` (the
    path alone when no public address is configured)."""
    return f"{settings.public_url}{VERIFY_PATH}"


def pdf_reports(parts: Parts) -> PdfReports:
    """The service's `PdfReports`: its HSM, catalog, purposes' Chinese titles and address."""
    purposes = {code: purpose.title_zh for code, purpose in parts.policy.purposes.items()}
    government = parts.policy.government_purposes
    purposes.update({code: purpose.title_zh for code, purpose in government.items()})
    return PdfReports(
        parts.key_provider,
        parts.catalog,
        purposes=purposes,
        verify_url=verify_url(parts.settings),
    )
