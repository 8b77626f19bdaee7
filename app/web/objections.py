"""Objections over the API (`app.services.rights`):

- `POST /api/v1/self/objections {"record_id", "text"}`: the subject objects to one of their
  records: 201 with the objection (the record is under objection at once), 404 for a record
  that is not theirs, 409 `objection_open`, 400 for a text over the limit;
- `GET /api/v1/self/objections`: the subject's objections, what they wrote and the outcomes;
- `GET /api/v1/registry/objections[?all=1]`: registrars (password + TOTP + card): the open
  objections by due day (all of them with `all=1`);
- `POST /api/v1/registry/objections/<id>/resolve {"outcome", "reason", "corrected_record_id"}`
  and `POST /api/v1/registry/objections/<id>/escalate {"stage"}`;
- `GET /api/v1/provider/objections`: the provider's open objections (bearer, scope
  `provider:records:submit`);
- `GET /api/v1/institution/disputes`: disputes on records the institution received (bearer,
  scope `institution:report:query`).
Every request is one query-log entry; the gate checks the CSRF token on the session POSTs.
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from app.services.policy import Action
from app.services.rights.disputes import Disputes
from app.services.rights.objections import OwnObjections
from app.services.rights.resolution import ObjectionDesk
from app.web.answers import asker, http, institution_asker, sent_body, wired
from app.web.gate import bound_to, csrf_exempt, public
from app.web.oauth import require_bearer

bp = Blueprint("objections", __name__)


@bp.post("/api/v1/self/objections")
@bound_to(Action.SELF_OBJECTION_CREATE)
def file() -> tuple[Response, int]:
    return http(OwnObjections(wired()).file(asker(), sent_body()))


@bp.get("/api/v1/self/objections")
@bound_to(Action.SELF_OBJECTION_READ)
def own() -> tuple[Response, int]:
    return http(OwnObjections(wired()).listing(asker()))


@bp.get("/api/v1/registry/objections")
@bound_to(Action.REGISTRY_OBJECTION_READ)
def desk() -> tuple[Response, int]:
    every = request.args.get("all") in ("1", "true")
    return http(ObjectionDesk(wired()).listing(asker(), include_resolved=every))


@bp.post("/api/v1/registry/objections/<objection_id>/resolve")
@bound_to(Action.REGISTRY_OBJECTION_RESOLVE)
def resolve(objection_id: str) -> tuple[Response, int]:
    return http(ObjectionDesk(wired()).resolve(asker(), objection_id, sent_body()))


@bp.post("/api/v1/registry/objections/<objection_id>/escalate")
@bound_to(Action.REGISTRY_OBJECTION_ESCALATE)
def escalate(objection_id: str) -> tuple[Response, int]:
    return http(ObjectionDesk(wired()).escalate(asker(), objection_id, sent_body()))


@bp.get("/api/v1/provider/objections")
@bound_to(Action.PROVIDER_OBJECTION_READ)
@public
@csrf_exempt
@require_bearer("provider:records:submit")
def for_provider() -> tuple[Response, int]:
    return http(Disputes(wired()).for_provider(institution_asker()))


@bp.get("/api/v1/institution/disputes")
@bound_to(Action.INSTITUTION_DISPUTE_READ)
@public
@csrf_exempt
@require_bearer("institution:report:query")
def for_institution() -> tuple[Response, int]:
    return http(Disputes(wired()).for_institution(institution_asker()))
