"""Every disclosure explained (ARCHITECTURE §10): what lets each allowed disclosure happen.

A *disclosure* is an allowed entry whose action releases credit information (the policy's
`releases = true`), whose entry names released fields, or whose action is bound to an
explanation below. Each is explained by exactly one of:

| kind          | actions                                  | the evidence checked                  |
|---------------|------------------------------------------|---------------------------------------|
| `subject`     | `self:report:read`, `self:query_log:read`| the actor is a subject account whose  |
|               |                                          | subject has the entry's blind index   |
| `order`       | `archive:report:read`                    | a paid archive order of that account, |
|               |                                          | for that subject, paid before and     |
|               |                                          | downloadable at the entry's time      |
| `consent`     | `institution:report:query`               | the consent the entry names exists,   |
|               |                                          | for that institution, subject and     |
|               |                                          | purpose, in force at the entry's time |
| `legal_basis` | `public:list:search` (the public lists   | a basis named by the action (below)   |
|               | are disclosed by law: 双公示),           | or by the entry itself                |
|               | `government:report:query`                | (`query_log.legal_basis`)             |

**Legal bases.** Government queries cite a legal basis instead of a consent, stored on the
entry (`query_log.legal_basis`, part of the chained entry): an entry whose `legal_basis` is set
is explained by it (`ENTRY_LEGAL_BASIS_COLUMN`); a government entry without one is
unexplained; an entry both bound to another kind and citing a
legal basis is explained twice, which is a defect too (`explained_more_than_once`). A new
action is added by naming its kind in `EXPLAINED_BY` (and, for a basis the law gives the
action itself, in `ACTION_LEGAL_BASES`). A disclosing action named nowhere is
`no_explanation_for_action`: a new releasing action cannot go unexplained silently.

Nothing here writes, and nothing here reads a released value: only references (account, order
and consent ids), blind indexes, times and purposes.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any, cast

from sqlalchemy import Connection, Table, or_, select

from app.models import Account, Consent, Order, QueryLogEntry, Subject
from app.models.base import as_utc
from app.services.review.log_search import AnyRow, uuid_or_none

_LOG = cast(Table, QueryLogEntry.__table__)
#: Tolerance on a consent's issue time, as when it is used (`consent.tokens.SKEW`).
SKEW = timedelta(seconds=60)
#: The entry column a government query's legal basis is stored in (added by that branch).
ENTRY_LEGAL_BASIS_COLUMN = "legal_basis"


class Kind(StrEnum):
    SUBJECT = "subject"
    ORDER = "order"
    CONSENT = "consent"
    LEGAL_BASIS = "legal_basis"


#: The one kind of explanation each disclosing action needs.
EXPLAINED_BY: Mapping[str, Kind] = MappingProxyType(
    {
        "self:report:read": Kind.SUBJECT,
        "self:query_log:read": Kind.SUBJECT,
        "archive:report:read": Kind.ORDER,
        "institution:report:query": Kind.CONSENT,
        "public:list:search": Kind.LEGAL_BASIS,
        "government:report:query": Kind.LEGAL_BASIS,
    }
)
#: Legal bases the law gives an action itself (whoever asks).
ACTION_LEGAL_BASES: Mapping[str, str] = MappingProxyType(
    {"public:list:search": "public_disclosure_by_law"}
)


@dataclass(frozen=True)
class Explanation:
    kind: Kind
    reference: str  # the account id, order id, consent id or legal basis


@dataclass(frozen=True)
class Verdict:
    """Whether the entry at `seq` is explained: by `explanation`, or not, for `problem`."""

    seq: int
    explanation: Explanation | None
    problem: str | None = None

    @property
    def explained(self) -> bool:
        return self.explanation is not None

    def as_dict(self) -> dict[str, Any]:
        found = self.explanation
        return {
            "explained": self.explained,
            "kind": None if found is None else found.kind.value,
            "reference": None if found is None else found.reference,
            "problem": self.problem,
        }


def disclosing_actions(releasing: Collection[str]) -> list[str]:
    """Actions whose allowed entries are disclosures: bound to an explanation, or releasing
    credit information under the policy."""
    return sorted(set(EXPLAINED_BY) | set(releasing))


def disclosures(
    connection: Connection,
    releasing: Collection[str],
    *,
    after_seq: int,
    limit: int,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[AnyRow]:
    """Up to `limit` disclosures after `after_seq`, oldest first, with every stored column."""
    query = (
        select(_LOG)
        .where(
            _LOG.c.decision == "allowed",
            _LOG.c.seq > after_seq,
            or_(_LOG.c.action.in_(disclosing_actions(releasing)), _LOG.c.fields_released != ""),
        )
        .order_by(_LOG.c.seq)
        .limit(limit)
    )
    if since is not None:
        query = query.where(_LOG.c.at >= since)
    if until is not None:
        query = query.where(_LOG.c.at < until)
    return list(connection.execute(query).all())


def is_disclosure(row: AnyRow, releasing: Collection[str]) -> bool:
    return row.decision == "allowed" and (
        row.action in EXPLAINED_BY or row.action in releasing or bool(row.fields_released)
    )


def _kinds(row: AnyRow) -> list[Kind]:
    kinds = [] if row.action not in EXPLAINED_BY else [EXPLAINED_BY[row.action]]
    cited = row._mapping.get(ENTRY_LEGAL_BASIS_COLUMN)
    if cited and Kind.LEGAL_BASIS not in kinds:
        kinds.append(Kind.LEGAL_BASIS)
    return kinds


class Explainer:
    """Explains a batch of disclosures with a handful of reads (one per kind of evidence)."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def verdicts(self, rows: Sequence[AnyRow]) -> list[Verdict]:
        kinds = {row.seq: _kinds(row) for row in rows}
        accounts = self._accounts(
            row.actor_ref
            for row in rows
            if {Kind.SUBJECT, Kind.ORDER} & set(kinds[row.seq]) and row.actor_kind == "subject"
        )
        orders = self._orders(accounts)
        consents = self._consents(
            row.consent_jti
            for row in rows
            if Kind.CONSENT in kinds[row.seq] and row.consent_jti is not None
        )
        found = []
        for row in rows:
            wanted = kinds[row.seq]
            if not wanted:
                found.append(Verdict(row.seq, None, "no_explanation_for_action"))
            elif len(wanted) > 1:
                found.append(Verdict(row.seq, None, "explained_more_than_once"))
            elif wanted[0] is Kind.SUBJECT:
                found.append(_by_subject(row, accounts))
            elif wanted[0] is Kind.ORDER:
                found.append(_by_order(row, orders))
            elif wanted[0] is Kind.CONSENT:
                found.append(_by_consent(row, consents))
            else:
                found.append(_by_legal_basis(row))
        return found

    def _accounts(self, refs: Iterable[str]) -> dict[str, bytes | None]:
        """account id (text) -> the blind index of the subject it belongs to."""
        ids = {found for ref in refs if (found := uuid_or_none(ref)) is not None}
        if not ids:
            return {}
        rows = self.connection.execute(
            select(Account.id, Subject.id_bidx)
            .outerjoin(Subject, Subject.id == Account.subject_id)
            .where(Account.id.in_(ids), Account.kind == "subject")
        ).all()
        return {str(account): None if bidx is None else bytes(bidx) for account, bidx in rows}

    def _orders(self, accounts: Mapping[str, Any]) -> dict[str, list[AnyRow]]:
        """account id (text) -> its paid archive orders."""
        ids = [uuid.UUID(account) for account in accounts]
        if not ids:
            return {}
        rows = self.connection.execute(
            select(
                Order.id,
                Order.account_id,
                Order.subject_bidx,
                Order.paid_at,
                Order.available_until,
                Order.refunded_at,
            ).where(
                Order.account_id.in_(ids),
                Order.kind == "archive_report",
                Order.paid_at.is_not(None),
            )
        ).all()
        by_account: dict[str, list[AnyRow]] = {}
        for row in rows:
            by_account.setdefault(str(row.account_id), []).append(row)
        return by_account

    def _consents(self, jtis: Iterable[str]) -> dict[str, AnyRow]:
        wanted = sorted(set(jtis))
        if not wanted:
            return {}
        rows = self.connection.execute(
            select(
                Consent.jti,
                Consent.client_id,
                Consent.purpose,
                Consent.issued_at,
                Consent.expires_at,
                Consent.revoked_at,
                Consent.uses,
                Subject.id_bidx,
            )
            .join(Subject, Subject.id == Consent.subject_id)
            .where(Consent.jti.in_(wanted))
        ).all()
        return {row.jti: row for row in rows}


def _bidx(value: Any) -> bytes | None:
    return None if value is None else bytes(value)


def _by_subject(row: AnyRow, accounts: Mapping[str, bytes | None]) -> Verdict:
    own = row.actor_kind == "subject" and accounts.get(row.actor_ref) is not None
    if own and accounts[row.actor_ref] == _bidx(row.subject_bidx):
        return Verdict(row.seq, Explanation(Kind.SUBJECT, row.actor_ref))
    return Verdict(row.seq, None, "not_the_subjects_own_account")


def _by_order(row: AnyRow, orders: Mapping[str, list[AnyRow]]) -> Verdict:
    at = as_utc(row.at)
    for order in orders.get(row.actor_ref, []) if row.actor_kind == "subject" else []:
        paid = as_utc(order.paid_at) <= at
        open_ = order.available_until is not None and at < as_utc(order.available_until)
        kept = order.refunded_at is None or at < as_utc(order.refunded_at)
        if _bidx(order.subject_bidx) == _bidx(row.subject_bidx) and paid and open_ and kept:
            return Verdict(row.seq, Explanation(Kind.ORDER, str(order.id)))
    return Verdict(row.seq, None, "no_paid_order")


def _by_consent(row: AnyRow, consents: Mapping[str, AnyRow]) -> Verdict:
    if row.consent_jti is None:
        return Verdict(row.seq, None, "no_consent")
    consent = consents.get(row.consent_jti)
    at = as_utc(row.at)
    problem = None
    if consent is None:
        problem = "unknown_consent"
    elif row.actor_kind != "institution" or consent.client_id != row.actor_ref:
        problem = "consent_for_another_institution"
    elif _bidx(consent.id_bidx) != _bidx(row.subject_bidx):
        problem = "consent_for_another_subject"
    elif consent.purpose != row.purpose:
        problem = "consent_for_another_purpose"
    elif not as_utc(consent.issued_at) - SKEW <= at < as_utc(consent.expires_at):
        problem = "consent_not_in_force"
    elif consent.revoked_at is not None and as_utc(consent.revoked_at) <= at:
        problem = "consent_revoked_before"
    elif consent.uses < 1:
        problem = "consent_never_used"
    if problem is not None:
        return Verdict(row.seq, None, problem)
    return Verdict(row.seq, Explanation(Kind.CONSENT, row.consent_jti))


def _by_legal_basis(row: AnyRow) -> Verdict:
    basis = row._mapping.get(ENTRY_LEGAL_BASIS_COLUMN) or ACTION_LEGAL_BASES.get(row.action)
    if not basis:
        return Verdict(row.seq, None, "no_legal_basis")
    return Verdict(row.seq, Explanation(Kind.LEGAL_BASIS, str(basis)))
