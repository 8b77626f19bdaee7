"""Four providers furnish records for one subject at the same instant, each batch its own
committed unit on a real database (both backends): the grade stored at the end rests on every
record, because units grading the same subject take turns."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from sqlalchemy import select

from app.container import container
from app.models import SubjectGrade
from app.services.grades.grading import Grader, explanation_json
from policies.scorecard import default_scorecard
from tests.clocks import MovableClock
from tests.races import race
from tests.web.intake_helpers import TODAY, jsonl, judgment, register_provider, submit
from tests.web.rights_helpers import holder_of

RACERS = 4


@pytest.fixture(autouse=True)
def fixed_day(clock: MovableClock) -> None:
    clock.move_to_day(TODAY)


def test_simultaneous_batches_for_one_subject_leave_a_grade_on_every_record(app: Flask) -> None:
    first = register_provider(app)
    holder = holder_of(app, first, 531, [judgment(first, "J-0", 531)])
    courts = [register_provider(app) for _ in range(RACERS)]

    def prepare(n: int) -> Callable[[], int]:
        client = app.test_client()
        body = jsonl([judgment(courts[n], f"J-{n + 1}", 531)])
        return lambda: submit(client, courts[n], body).status_code

    assert race(RACERS, prepare) == [201] * RACERS
    parts = container(app)
    grader = Grader(default_scorecard(parts.catalog), parts.cipher)
    with parts.unit() as db:
        facts = grader.facts(db.connection(), [holder.subject_id])[holder.subject_id]
        stored = db.scalars(
            select(SubjectGrade).where(SubjectGrade.subject_id == holder.subject_id)
        ).one()
    assert len(facts) == RACERS + 1
    fresh = grader.scorecard.grade(facts, TODAY)
    assert (stored.score, stored.explanation) == (fresh.score, explanation_json(fresh))
    assert stored.score == 96 - 6  # two civil judgments counted, at -3 each
