"""Run in a subprocess with a live service's environment: print the name and ID number of a
demo subject the public lists show (a displayed public-class record), for a browser test to
search for and to order an archive report about. Kept out of the test process so that this
service's SoftHSM2 token is loaded on its own (one SOFTHSM2_CONF per process)."""

from __future__ import annotations

from sqlalchemy import select

from app.container import container
from app.factory import create_app
from app.models import Subject
from app.services.reports.assembly import ReportService
from tests.services.report_helpers import allow


def main() -> None:
    app = create_app()
    parts = container(app)
    public = {
        code for code, kind in parts.catalog.record_types.items() if kind.disclosure == "public"
    }
    with app.app_context():
        reports = ReportService(parts.cipher, parts.catalog, policy_version=parts.policy.version)
        with parts.unit() as db:
            for subject in db.scalars(select(Subject).order_by(Subject.id).limit(400)):
                document = reports.assemble(
                    db, subject=subject, decision=allow(parts.catalog), kind="self",
                    on=parts.clock.today(),
                )  # fmt: skip
                shown = [r for s in document["sections"].values() for r in s if isinstance(r, dict)]
                if any(record.get("type") in public for record in shown):
                    print(document["subject"]["name"], document["subject"]["id_number"])
                    return
    raise SystemExit("no demo subject with a public record")


if __name__ == "__main__":
    main()
