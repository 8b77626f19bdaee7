"""Display periods on real sealed records: intake computes `display_until`
with the catalog's rules, and the report shows a record on the day before each boundary and
hides it on the day of and the day after."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from flask import Flask

from app.container import container
from app.models import Subject
from app.services.reports.assembly import ReportService
from tests.services.report_helpers import Intake, Person, allow, citizen_id, dishonest, ingest
from tests.services.report_helpers import overdue as overdue_record
from tests.services.report_helpers import penalty as penalty_record

INTAKE_DAY = date(2024, 1, 1)

#: scenario -> (the record, the first day it is hidden)
SCENARIOS: dict[str, tuple[Intake, date]] = {
    # negative information: hidden from the 5th anniversary of the day the act ended
    "negative_5y": (overdue_record(date(2020, 1, 10), date(2020, 6, 15)), date(2025, 6, 15)),
    "negative_5y_leap_day": (
        overdue_record(date(2019, 9, 1), date(2020, 2, 29)),
        date(2025, 2, 28),
    ),
    # general penalty: 12 months at most...
    "general_max": (penalty_record(date(2025, 3, 10), serious=False), date(2026, 3, 10)),
    # ...credit repair ends it, but never before 3 months...
    "general_repaired_early": (
        penalty_record(date(2025, 3, 10), serious=False, repaired=date(2025, 4, 1)),
        date(2025, 6, 10),
    ),
    # ...and ends it on the repair day once the minimum has passed
    "general_repaired_later": (
        penalty_record(date(2025, 3, 10), serious=False, repaired=date(2025, 8, 20)),
        date(2025, 8, 20),
    ),
    # serious penalty: 36 months at most, credit repair never before 6 months
    "serious_max": (penalty_record(date(2024, 1, 31), serious=True), date(2027, 1, 31)),
    "serious_repaired_early": (
        penalty_record(date(2024, 1, 31), serious=True, repaired=date(2024, 3, 1)),
        date(2024, 7, 31),
    ),
    "serious_repaired_later": (
        penalty_record(date(2024, 1, 31), serious=True, repaired=date(2025, 5, 5)),
        date(2025, 5, 5),
    ),
    # dishonest-debtor listing: hidden from the removal day
    "dishonest_removed": (dishonest(date(2024, 2, 1), date(2026, 9, 1)), date(2026, 9, 1)),
}
ONE_DAY = timedelta(days=1)


@pytest.fixture
def subjects(app: Flask) -> dict[str, Any]:
    people = {
        name: Person(citizen_id(100 + i), f"测试{i}", (record,))
        for i, (name, (record, _)) in enumerate(SCENARIOS.items())
    }
    ids = ingest(app, people.values(), today=INTAKE_DAY)
    return {name: ids[person.id_number] for name, person in people.items()}


def _shown(app: Flask, subject_id: Any, on: date) -> list[str]:
    parts = container(app)
    service = ReportService(parts.cipher, parts.catalog)
    with parts.sessions() as db:
        report = service.assemble(
            db,
            subject=db.get(Subject, subject_id),
            decision=allow(parts.catalog),
            kind="self",
            on=on,
        )
    return [r["type"] for s in ("financial", "special") for r in report["sections"][s]]


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_shown_the_day_before_the_boundary_hidden_on_it_and_after(
    app: Flask, subjects: dict[str, Any], scenario: str
) -> None:
    record, hidden_from = SCENARIOS[scenario]
    subject_id = subjects[scenario]
    assert _shown(app, subject_id, hidden_from - ONE_DAY) == [record.record_type]
    assert _shown(app, subject_id, hidden_from) == []
    assert _shown(app, subject_id, hidden_from + ONE_DAY) == []


def test_a_record_is_not_shown_before_it_occurred_and_is_shown_on_that_day(
    app: Flask, subjects: dict[str, Any]
) -> None:
    record, _ = SCENARIOS["general_max"]
    assert _shown(app, subjects["general_max"], record.occurred_on - ONE_DAY) == []
    assert _shown(app, subjects["general_max"], record.occurred_on) == [record.record_type]


def test_a_listing_not_yet_removed_stays_shown(app: Flask) -> None:
    person = Person(citizen_id(99), "仍在列", (dishonest(date(2024, 2, 1), None),))
    subject_id = ingest(app, [person], today=INTAKE_DAY)[person.id_number]
    assert _shown(app, subject_id, date(2031, 1, 1)) == ["D.dishonest_debtor"]
