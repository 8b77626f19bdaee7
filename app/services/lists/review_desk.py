"""The list review's use cases as the officers' API and pages run them, each owning its unit
of work (`app.services.lists.review` holds the rules of the review itself).

Guarantees: every call opens its own writing unit and commits it before it returns; `decide`
records an approval the confidentiality check refused in a unit of its own (the refusal is on
record even though the review did not happen) and then raises the `ReviewRefused`; the caller
gets documents back, never a session.
"""

from __future__ import annotations

import uuid
from contextlib import AbstractContextManager
from typing import Any, Protocol

from sqlalchemy.orm import Session

from app.clock import Clock
from app.services.lists.review import DeriveResult, ListReview, Officer, ReviewRefused, list_review
from app.services.querylog.log import QueryLog
from crypto.fields import FieldCipher
from crypto.keys import KeyProvider
from policies.catalog import Catalog


class ReviewParts(Protocol):
    @property
    def clock(self) -> Clock: ...

    @property
    def catalog(self) -> Catalog: ...

    @property
    def cipher(self) -> FieldCipher: ...

    @property
    def key_provider(self) -> KeyProvider: ...

    def query_log(self) -> QueryLog: ...

    def unit(self) -> AbstractContextManager[Session]: ...


class ListReviewDesk:
    def __init__(self, parts: ReviewParts) -> None:
        self.parts = parts
        self.review: ListReview = list_review(
            parts.catalog, parts.cipher, parts.key_provider, parts.query_log()
        )

    def changes(self, status: str) -> list[dict[str, Any]]:
        with self.parts.unit() as db:
            return self.review.changes(db, status=status, on=self.parts.clock.today())

    def overdue(self) -> list[dict[str, Any]]:
        with self.parts.unit() as db:
            return self.review.overdue(db, on=self.parts.clock.today())

    def pending_and_overdue(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The officers' page: pending changes and overdue removals, from one unit."""
        today = self.parts.clock.today()
        with self.parts.unit() as db:
            pending = self.review.changes(db, status="pending", on=today)
            return pending, self.review.overdue(db, on=today)

    def derive(self) -> DeriveResult:
        clock = self.parts.clock
        with self.parts.unit() as db:
            return self.review.derive(db, on=clock.today(), now=clock.now())

    def decide(
        self, change_id: uuid.UUID, officer: Officer, *, approve: bool, note: str
    ) -> dict[str, Any]:
        """Approve or reject one change; the change as reviewed. `ReviewRefused` otherwise."""
        clock = self.parts.clock
        try:
            with self.parts.unit() as db:
                change = self.review.review(
                    db, change_id, officer, approve=approve, note=note,
                    now=clock.now(), on=clock.today(),
                )  # fmt: skip
                return self.review.view(change, clock.today())
        except ReviewRefused as exc:
            if exc.code == "confidentiality_check_failed":
                with self.parts.unit() as db:  # the refusal itself is on record
                    self.review.refusal(db, change_id, officer, now=clock.now())
            raise
