"""Registering government agencies: an institution's OAuth client with the scope
`government:report:query` and the administrative purposes it may query for.

Guarantees:
- an agency is registered like an institution (`InstitutionService.register`: credit code,
  name, public key checked the same way), with the one scope `government:report:query` (plus
  `statistics:read` when asked), and at least one purpose from the government data's closed
  list; an unknown purpose is refused by name;
- registration and purposes land in the caller's unit of work together, or not at all;
- `registered_purposes` is what a query's decision is made against: an agency not registered
  (or disabled: bearer authentication refuses it first) has none.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from app.models import GovernmentAgency, Institution
from app.services.oauth.institutions import InstitutionError, InstitutionService, Scope
from policies.government import GovernmentPurpose


@dataclass(frozen=True)
class AgencyView:
    client_id: str
    credit_code: str
    name: str
    status: str
    key: str
    algorithm: str
    scopes: tuple[str, ...]
    purposes: tuple[str, ...]


def parse_purposes(
    chosen: Iterable[str], known: Mapping[str, GovernmentPurpose]
) -> tuple[str, ...]:
    """Distinct purposes from the closed list, sorted; an unknown one is refused by name."""
    purposes = {p.strip() for p in chosen if p.strip()}
    unknown = sorted(purposes - set(known))
    if unknown:
        raise InstitutionError(
            f"unknown purpose {unknown[0]!r}; administrative purposes: {', '.join(sorted(known))}"
        )
    if not purposes:
        raise InstitutionError("at least one administrative purpose is required")
    return tuple(sorted(purposes))


class GovernmentAgencies:
    """Use cases for `flask government register|list`; the caller owns the transaction."""

    def __init__(self, purposes: Mapping[str, GovernmentPurpose]) -> None:
        self.purposes = purposes

    def register(
        self,
        db: Session,
        *,
        credit_code: str,
        name: str,
        public_key_pem: bytes,
        purposes: Iterable[str],
        statistics: bool = False,
    ) -> AgencyView:
        chosen = parse_purposes(purposes, self.purposes)
        scopes = [Scope.GOVERNMENT_QUERY.value]
        if statistics:
            scopes.append(Scope.STATISTICS_READ.value)
        view = InstitutionService().register(
            db, credit_code=credit_code, name=name, public_key_pem=public_key_pem, scopes=scopes
        )
        db.add(GovernmentAgency(institution_id=view.id, purposes=" ".join(chosen)))
        db.flush()
        return AgencyView(
            view.client_id,
            view.credit_code,
            view.name,
            view.status,
            view.key,
            view.algorithm,
            view.scopes,
            chosen,
        )

    def list_all(self, db: Session) -> list[AgencyView]:
        service = InstitutionService()
        rows = db.execute(
            select(Institution.client_id, GovernmentAgency.purposes)
            .join(GovernmentAgency, GovernmentAgency.institution_id == Institution.id)
            .order_by(Institution.created_at, Institution.id)
        ).all()
        views = []
        for client_id, purposes in rows:
            view = service.get(db, client_id)
            views.append(
                AgencyView(
                    view.client_id,
                    view.credit_code,
                    view.name,
                    view.status,
                    view.key,
                    view.algorithm,
                    view.scopes,
                    tuple(purposes.split()),
                )
            )
        return views


def registered_purposes(db: Connection | Session, institution_id: uuid.UUID) -> frozenset[str]:
    """The purposes the agency behind `institution_id` is registered for (none if it is not
    an agency)."""
    purposes = db.execute(
        select(GovernmentAgency.purposes).where(GovernmentAgency.institution_id == institution_id)
    ).scalar_one_or_none()
    return frozenset(purposes.split()) if purposes else frozenset()
