"""Who a staff member must not act on: their own ID number and their household's, declared as
blind indexes (ARCHITECTURE §10: staff accounts carry the blind index of their own ID number).

Guarantees: only an active staff account declares; the number is validated (GB 11643-1999),
turned into its blind index (one HSM call) and dropped — it is stored, logged and returned
nowhere; declaring the same person again keeps the first declaration (idempotent); the caller
owns the unit of work.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Account, StaffRelation
from crypto.blind_index import BlindIndexKind, blind_index
from crypto.keys import KeyProvider
from policies.identifiers import InvalidIdentifier, parse_citizen_id

RELATIONS = ("self", "spouse", "parent", "child", "sibling", "household")


class RelationRefused(ValueError):
    """The declaration is refused (the message names what is wrong, never the number)."""


def declare(
    db: Session,
    provider: KeyProvider,
    *,
    username: str,
    id_number: str,
    relation: str,
    now: datetime,
) -> bool:
    """Record that the staff member `username` has `relation` to the holder of `id_number`;
    True if it is new."""
    if relation not in RELATIONS:
        raise RelationRefused(f"relation is one of {', '.join(RELATIONS)}")
    account = db.scalars(
        select(Account).where(Account.username == username.strip().casefold())
    ).one_or_none()
    if account is None or account.kind != "staff" or account.status != "active":
        raise RelationRefused("--username must name an active staff account")
    try:
        number = parse_citizen_id(id_number).value
    except InvalidIdentifier as invalid:
        raise RelationRefused(f"the ID number is not valid: {invalid}") from None
    bidx = blind_index(provider, BlindIndexKind.CITIZEN_ID, number)
    if db.get(StaffRelation, (account.id, bidx)) is not None:
        return False
    if relation == "self":
        own = db.scalars(
            select(StaffRelation).where(
                StaffRelation.account_id == account.id, StaffRelation.relation == "self"
            )
        ).first()
        if own is not None:
            raise RelationRefused("this account's own ID number is declared already")
    db.add(StaffRelation(account_id=account.id, subject_bidx=bidx, relation=relation,
                         declared_at=now))  # fmt: skip
    return True
