"""Run in a subprocess with a live service's environment: issue a signed self-report PDF of
the first demo subject, exactly as the service makes and records one, and write it to
argv[1] (its reference and report id to argv[1] + ".ref"). Kept out of the test process so
that this service's SoftHSM2 token is loaded on its own (one SOFTHSM2_CONF per process)."""

from __future__ import annotations

import sys
from pathlib import Path

from sqlalchemy import select

from app.container import container
from app.factory import create_app
from app.models import Subject
from app.services.reports.assembly import ReportService
from app.services.reports.pdf import pdf_reports
from tests.pdf.helpers import issue
from tests.services.report_helpers import allow


def main(out: Path) -> None:
    app = create_app()
    parts = container(app)
    with app.app_context():
        reports = ReportService(parts.cipher, parts.catalog, policy_version=parts.policy.version)
        with parts.unit() as db:
            subject = db.scalars(select(Subject).order_by(Subject.id).limit(1)).one()
            document = reports.assemble(
                db,
                subject=subject,
                decision=allow(parts.catalog),
                kind="self",
                on=parts.clock.today(),
            )
        signed = issue(app, document, reports=pdf_reports(parts))  # the service's own
    out.write_bytes(signed.content)
    Path(f"{out}.ref").write_text(f"{signed.reference} {signed.issued.report_id}\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
