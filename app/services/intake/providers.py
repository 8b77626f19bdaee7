"""Data providers (courts, tax bureaus, social insurance, public security, banks...) registered
to submit records: each is a `DataProvider` linked to an OAuth client (`Institution`) that
authenticates with `private_key_jwt` and holds the scope `provider:records:submit`.

Guarantees:
- a provider is registered only under a valid unified social credit code (GB 32100-2015) and a
  kind from the reviewed list (`policies/data/intake.toml`); one provider per credit code;
- an institution already registered under that code (a bank that also queries) becomes the
  provider's client: the provider scope is added to it, and the key it registered is the one
  its submissions and signed files must verify under (a different key is refused, not
  replaced); otherwise a new client is registered with the provider scope only;
- a provider held from demo data (no client) is linked, not duplicated;
- `provider_for_client` finds the provider behind a bearer token, only if its client holds
  the provider scope and is active. Nothing here commits.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import DataProvider, Institution
from app.services.oauth.institutions import (
    InstitutionError,
    InstitutionService,
    Scope,
    Status,
    load_new_public_key,
)
from policies.identifiers import InvalidIdentifier, parse_credit_code
from policies.intake_rules import IntakeRules

PROVIDER_SCOPE = Scope.PROVIDER_SUBMIT.value


class ProviderError(ValueError):
    """A registration was refused; the message says why and never holds key material."""


@dataclass(frozen=True)
class ProviderView:
    id: uuid.UUID
    credit_code: str
    name: str
    kind: str
    client_id: str | None
    status: str


def _view(provider: DataProvider, institution: Institution | None) -> ProviderView:
    return ProviderView(
        id=provider.id,
        credit_code=provider.credit_code,
        name=provider.name,
        kind=provider.kind,
        client_id=None if institution is None else institution.client_id,
        status="no_client" if institution is None else institution.status,
    )


@dataclass(frozen=True)
class ProviderService:
    rules: IntakeRules

    def register(
        self, db: Session, *, credit_code: str, name: str, kind: str, public_key_pem: bytes
    ) -> ProviderView:
        try:
            code = parse_credit_code(credit_code).value
        except InvalidIdentifier as exc:
            raise ProviderError(f"{exc} (part: {exc.part})") from None
        if kind not in self.rules.provider_kinds:
            raise ProviderError(
                f"unknown provider kind; kinds are: {', '.join(self.rules.provider_kinds)}"
            )
        clean = " ".join(name.split())
        if not clean or len(clean) > 200 or not clean.isprintable():
            raise ProviderError("the name must have 1 to 200 printable characters")
        try:
            key = load_new_public_key(public_key_pem)
        except InstitutionError as exc:
            raise ProviderError(str(exc)) from None
        provider = db.scalar(select(DataProvider).where(DataProvider.credit_code == code))
        if provider is not None and provider.institution_id is not None:
            raise ProviderError("a provider with this credit code is registered already")
        institution = db.scalar(select(Institution).where(Institution.credit_code == code))
        if institution is None:
            try:
                view = InstitutionService().register(
                    db, credit_code=code, name=clean, public_key_pem=key.pem.encode("ascii"),
                    scopes=[PROVIDER_SCOPE],
                )  # fmt: skip
            except InstitutionError as exc:
                raise ProviderError(str(exc)) from None
            institution = db.get(Institution, view.id)
            assert institution is not None
        else:
            if institution.public_key_pem != key.pem:
                raise ProviderError(
                    "this credit code is registered as an institution under another key; "
                    "register the provider with that key (or rotate it first)"
                )
            scopes = set(institution.scopes.split())
            if PROVIDER_SCOPE not in scopes:
                institution.scopes = " ".join(sorted(scopes | {PROVIDER_SCOPE}))
        if provider is None:
            provider = DataProvider(credit_code=code, name=clean, kind=kind)
            db.add(provider)
        provider.name, provider.kind = clean, kind
        provider.institution_id = institution.id
        db.flush()
        return _view(provider, institution)

    def list_all(self, db: Session) -> list[ProviderView]:
        rows = db.execute(
            select(DataProvider, Institution)
            .outerjoin(Institution, Institution.id == DataProvider.institution_id)
            .order_by(DataProvider.credit_code)
        ).all()
        return [_view(provider, institution) for provider, institution in rows]


def provider_by_code(db: Session, credit_code: str) -> tuple[DataProvider, Institution] | None:
    """The registered provider with this credit code and its client, or None."""
    try:
        code = parse_credit_code(credit_code).value
    except InvalidIdentifier:
        return None
    row = db.execute(
        select(DataProvider, Institution)
        .join(Institution, Institution.id == DataProvider.institution_id)
        .where(DataProvider.credit_code == code)
    ).one_or_none()
    return None if row is None else (row[0], row[1])


def provider_for_client(db: Session, institution_id: uuid.UUID) -> DataProvider | None:
    """The provider behind an authenticated client, if the client may submit records."""
    institution = db.get(Institution, institution_id)
    if (
        institution is None
        or institution.status != Status.ACTIVE.value
        or PROVIDER_SCOPE not in institution.scopes.split()
    ):
        return None
    return db.scalar(select(DataProvider).where(DataProvider.institution_id == institution_id))
