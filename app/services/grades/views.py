"""How grades are shown: to their subject (the counted grade and its explanation) and to
registrars (the A and E proposals waiting for a second approval).

Guarantees: a subject is shown only the grade that counts — an A or an E waiting for its
second approval is never shown as theirs; they are told one is awaited — with every factor
that moved its score, by how many points, and the records each counted (their ids: the records
themselves are in the own report), and the scorecard's thresholds. Registrars see subject
references, grades, scores and factors, never a name, an ID number or a record's values.
"""

from __future__ import annotations

import json
from typing import Any

from app.models import GradeApproval, SubjectGrade
from app.models.base import as_utc
from policies.scorecard import Scorecard


def thresholds(card: Scorecard) -> list[dict[str, Any]]:
    return [
        {
            "grade": rule.code,
            "title": rule.title,
            "title_zh": rule.title_zh,
            "min_score": rule.min_score,
            "clean_years": rule.clean_years,
            "second_approval": rule.second_approval,
        }
        for rule in card.grades
    ]


def own_grade_view(card: Scorecard, row: SubjectGrade | None, awaiting: bool) -> dict[str, Any]:
    """The subject's grade: `counted` (with its explanation), `pending` (an A or an E awaits
    its second approval and nothing counts yet) or `ungraded`."""
    counted = None if row is None else row.counted_grade
    status = "counted" if counted is not None else ("pending" if awaiting else "ungraded")
    view: dict[str, Any] = {
        "status": status,
        "grade": counted,
        "score": None,
        "explanation": None,
        "counted_at": None,
        "awaiting_approval": awaiting,
        "grades": thresholds(card),
        "scorecard_version": card.version,
    }
    if row is not None and counted is not None:
        rule = card.rule(counted)
        view.update(
            {
                "title": rule.title,
                "title_zh": rule.title_zh,
                "score": row.counted_score,
                "explanation": json.loads(row.counted_explanation or "{}"),
                "counted_at": None
                if row.counted_at is None
                else as_utc(row.counted_at).isoformat(),
            }
        )
    return view


def approval_view(row: GradeApproval) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "subject_ref": str(row.subject_id),
        "grade": row.grade,
        "score": row.score,
        "explanation": json.loads(row.explanation),
        "scorecard_version": row.scorecard_version,
        "proposed_at": as_utc(row.proposed_at).isoformat(),
        "proposed_by": row.proposed_ref,
        "status": row.status,
        "decided_at": None if row.decided_at is None else as_utc(row.decided_at).isoformat(),
    }


def report_grade(card: Scorecard, counted: tuple[str, int, str] | None) -> dict[str, Any] | None:
    """The own report's `grade`: the grade that counts, its score and every factor that moved
    it (the same explanation as `own_grade_view`), or None when none counts."""
    if counted is None:
        return None
    code, score, explanation = counted
    rule = card.rule(code)
    return {
        "grade": code,
        "title": rule.title,
        "title_zh": rule.title_zh,
        "score": score,
        "explanation": json.loads(explanation),
    }
