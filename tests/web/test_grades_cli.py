"""`flask grades list|approve|refuse|recompute`: the registrar's console, the same use cases as
the API (each run one query-log entry under the registrar's account)."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from app.container import container
from app.models import GradeApproval, QueryLogEntry, SubjectGrade
from tests.clocks import MovableClock
from tests.logins import make_account
from tests.web.intake_helpers import TODAY, register_provider
from tests.web.rights_helpers import holder_of
from tests.web.test_grades import debtor_row, tax_row


@pytest.fixture(autouse=True)
def fixed_day(clock: MovableClock) -> None:
    clock.move_to_day(TODAY)


def test_a_second_registrar_approves_at_the_console(app: Flask) -> None:
    court = register_provider(app)
    holder = holder_of(app, court, 521, [debtor_row(court, "E-21", 521)])
    holder_of(app, court, 522, [tax_row(court, "T-22", 522, "paid_late")])
    make_account(app, "grader-1", kind="staff", roles=("registrar",))
    make_account(app, "grader-2", kind="staff", roles=("registrar",))
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["grades", "list", "--registrar", "grader-1"])
    assert listed.exit_code == 0, listed.output
    with container(app).sessions() as db:
        (approval,) = db.scalars(select(GradeApproval)).all()
    assert str(approval.id) in listed.output
    assert "-27  dishonest-debtor (1)" in listed.output
    regraded = runner.invoke(
        args=["grades", "recompute", "--registrar", "grader-1", "--subject-ref",
              str(holder.subject_id)]
    )  # fmt: skip
    assert regraded.exit_code == 0, regraded.output
    with container(app).sessions() as db:
        mine = db.scalars(select(GradeApproval).where(GradeApproval.status == "pending")).one()
    own = runner.invoke(args=["grades", "approve", str(mine.id), "--registrar", "grader-1"])
    assert own.exit_code == 1
    assert "own_proposal" in own.output
    approved = runner.invoke(args=["grades", "approve", str(mine.id), "--registrar", "grader-2"])
    assert approved.exit_code == 0, approved.output
    every = runner.invoke(args=["grades", "recompute", "--registrar", "grader-2"])
    assert every.exit_code == 0, every.output
    assert '"graded": 2' in every.output
    with container(app).sessions() as db:
        counted = db.scalar(
            select(SubjectGrade.counted_grade).where(SubjectGrade.subject_id == holder.subject_id)
        )
        actions = db.execute(
            select(QueryLogEntry.action, QueryLogEntry.decision, QueryLogEntry.reason)
            .where(QueryLogEntry.action.like("registry:grade:%"))
            .order_by(QueryLogEntry.seq)
        ).all()
    assert counted == "E"
    assert [tuple(row) for row in actions] == [
        ("registry:grade:read", "allowed", "registrar_enrolment"),
        ("registry:grade:recompute", "allowed", "grade_recomputed"),
        ("registry:grade:approve", "denied", "own_proposal"),
        ("registry:grade:approve", "allowed", "grade_approved"),
        ("registry:grade:recompute", "allowed", "grades_recomputed"),
    ]
