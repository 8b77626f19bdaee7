"""The registry's use cases as the web layer runs them, each owning its unit of work:
enrolling a subject, issuing a card, replacing a lost one (registrars), and a subject's own
lost-card report.

Guarantees: each call opens one writing unit and commits it durably before it returns (the
step and its query-log entry together, or neither: `app.services.enrolment.steps`); the
caller hands in who acts and what was asked, and gets the step's outcome back, never a
session. The days and times come from the service's one clock.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.orm import Session

from app.clock import Clock
from app.services.auth.login_attempts import Outcome
from app.services.auth.passwords import PasswordHashing
from app.services.enrolment.lost_card import LostCardService
from app.services.enrolment.registrar import Enrolled, IssuedCard, RegistrarService
from app.services.enrolment.steps import Actor
from app.services.keys.lifecycle import KeyService
from app.services.querylog.log import QueryLog
from crypto.keys import KeyProvider


class DeskParts(Protocol):
    """What the registry needs of the application (the container, structurally)."""

    @property
    def clock(self) -> Clock: ...

    @property
    def keys(self) -> KeyService: ...

    @property
    def passwords(self) -> PasswordHashing: ...

    @property
    def key_provider(self) -> KeyProvider: ...

    def query_log(self) -> QueryLog: ...

    def unit(self) -> AbstractContextManager[Session]: ...


@dataclass(frozen=True)
class LostCardAnswer:
    outcome: Outcome
    cards_revoked: int
    sessions_ended: int


class RegistryDesk:
    def __init__(self, parts: DeskParts) -> None:
        self.parts = parts

    def _registrar(self) -> RegistrarService:
        return RegistrarService(self.parts.keys, self.parts.query_log(), self.parts.passwords)

    def enrol(
        self, actor: Actor, *, id_number: str, name: str, username: str, password: str
    ) -> Enrolled:
        clock = self.parts.clock
        with self.parts.unit() as db:
            return self._registrar().enrol(
                db,
                actor,
                id_number=id_number,
                name=name,
                username=username,
                password=password,
                today=clock.today(),
                now=clock.now(),
            )

    def issue_card(self, actor: Actor, *, username: str, public_key_der: bytes) -> IssuedCard:
        with self.parts.unit() as db:
            return self._registrar().issue_card(
                db,
                actor,
                username=username,
                public_key_der=public_key_der,
                now=self.parts.clock.now(),
            )

    def replace_card(
        self, actor: Actor, *, username: str, public_key_der: bytes, reason: str
    ) -> IssuedCard:
        with self.parts.unit() as db:
            return self._registrar().replace_card(
                db,
                actor,
                username=username,
                public_key_der=public_key_der,
                reason=reason,
                now=self.parts.clock.now(),
            )

    def report_lost_card(self, actor: Actor, *, username: str, password: str) -> LostCardAnswer:
        """A subject's own report (the API and the browser form): the password is checked,
        throttled and recorded like a login; on success every active card is revoked and
        every session ended."""
        parts = self.parts
        service = LostCardService(parts.key_provider, parts.query_log(), parts.passwords)
        with parts.unit() as db:
            report = service.report(
                db, username=username, password=password, actor=actor, now=parts.clock.now()
            )
        return LostCardAnswer(report.outcome, report.cards_revoked, report.sessions_ended)
