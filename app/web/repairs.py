"""Credit repair over the API (`app.services.rights.repair`, `.repair_desk`):

- `POST /api/v1/self/repairs` (multipart/form-data: `record_id`, `explanation`, one to
  `max_files` `evidence` files): the subject applies: 201 with the application; 404 for a
  record that is not theirs; 409 `not_eligible`, `not_displayed`, `too_early` (with
  `eligible_from`), `repair_open`; 400 `evidence_type` / `evidence_mismatch`; 413
  `evidence_too_large`, or `request_entity_too_large` for a body over the route's limit;
- `GET /api/v1/self/repairs`: the subject's applications and decisions, and which of their
  records may be repaired from which day;
- `GET /api/v1/registry/repairs[?all=1]` (registrars: password + TOTP + card): the open
  applications (every one with `all=1`); `GET .../<id>/evidence/<n>`: an evidence file;
- `POST /api/v1/registry/repairs/<id>/approve {"reason"?}` and `.../refuse {"reason"}`.
Every request is one query-log entry; the gate checks the CSRF token on the session POSTs.
"""

from __future__ import annotations

import mimetypes

from flask import Blueprint, Response, request
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import RequestEntityTooLarge

from app.services.outcomes import TOO_LARGE
from app.services.policy import Action
from app.services.rights.repair import EvidenceFile, OwnRepairs, RepairForm, upload_limit
from app.services.rights.repair_desk import RepairDesk
from app.web.answers import asker, http, sent_body, wired
from app.web.gate import body_limit, bound_to

bp = Blueprint("repairs", __name__)
#: the largest body an application may be (the route's limit, above the application's 64 KiB)
UPLOAD_LIMIT = upload_limit()


def _claimed(upload: FileStorage) -> str | None:
    """The type the client said the file is: the part's type, else its name's extension."""
    said = (upload.mimetype or "").lower()
    if said and said != "application/octet-stream":
        return said
    return mimetypes.guess_type(upload.filename or "")[0]


def repair_form() -> RepairForm:
    """The application as sent (never raises: a body over the limit is a problem the use case
    logs and refuses). Each file is read to one byte past its limit, no further."""
    most = wired().repair.max_file_bytes + 1
    try:
        fields = request.form
        uploads = [u for u in request.files.getlist("evidence") if u.filename]
        evidence = tuple(EvidenceFile(_claimed(u), u.read(most)) for u in uploads)
    except RequestEntityTooLarge:
        return RepairForm(problem=TOO_LARGE)
    return RepairForm(fields.get("record_id"), fields.get("explanation"), evidence)


@bp.post("/api/v1/self/repairs")
@bound_to(Action.SELF_REPAIR_CREATE)
@body_limit(UPLOAD_LIMIT)
def apply() -> tuple[Response, int]:
    return http(OwnRepairs(wired()).apply(asker(), repair_form()))


@bp.get("/api/v1/self/repairs")
@bound_to(Action.SELF_REPAIR_READ)
def own() -> tuple[Response, int]:
    return http(OwnRepairs(wired()).listing(asker()))


@bp.get("/api/v1/registry/repairs")
@bound_to(Action.REGISTRY_REPAIR_READ)
def desk() -> tuple[Response, int]:
    every = request.args.get("all") in ("1", "true")
    return http(RepairDesk(wired()).listing(asker(), include_decided=every))


@bp.get("/api/v1/registry/repairs/<application_id>/evidence/<int:position>")
@bound_to(Action.REGISTRY_REPAIR_READ)
def evidence(application_id: str, position: int) -> tuple[Response, int]:
    return http(RepairDesk(wired()).evidence(asker(), application_id, position))


@bp.post("/api/v1/registry/repairs/<application_id>/approve")
@bound_to(Action.REGISTRY_REPAIR_DECIDE)
def approve(application_id: str) -> tuple[Response, int]:
    return http(RepairDesk(wired()).decide(asker(), application_id, "approved", sent_body()))


@bp.post("/api/v1/registry/repairs/<application_id>/refuse")
@bound_to(Action.REGISTRY_REPAIR_DECIDE)
def refuse(application_id: str) -> tuple[Response, int]:
    return http(RepairDesk(wired()).decide(asker(), application_id, "refused", sent_body()))
