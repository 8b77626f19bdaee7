"""Statements over the API (`app.services.rights.statements`):

- `POST /api/v1/self/statements {"record_id", "text"}`: 201 with the statement, shown with the
  record wherever it is shown from now on; 404 for a record that is not the caller's, 409
  `statement_exists`, 400 for a text over the limit;
- `GET /api/v1/self/statements`: the caller's statements, withdrawn ones included;
- `POST /api/v1/self/statements/<id>/withdraw`: shown nowhere from now on (idempotent).
Every request is one query-log entry; the gate checks the CSRF token on the POSTs.
"""

from __future__ import annotations

from flask import Blueprint, Response

from app.services.policy import Action
from app.services.rights.statements import OwnStatements
from app.web.answers import asker, http, sent_body, wired
from app.web.gate import bound_to

bp = Blueprint("statements", __name__, url_prefix="/api/v1/self/statements")


@bp.post("")
@bound_to(Action.SELF_STATEMENT_CREATE)
def make() -> tuple[Response, int]:
    return http(OwnStatements(wired()).make(asker(), sent_body()))


@bp.get("")
@bound_to(Action.SELF_STATEMENT_READ)
def listing() -> tuple[Response, int]:
    return http(OwnStatements(wired()).listing(asker()))


@bp.post("/<statement_id>/withdraw")
@bound_to(Action.SELF_STATEMENT_WITHDRAW)
def withdraw(statement_id: str) -> tuple[Response, int]:
    return http(OwnStatements(wired()).withdraw(asker(), statement_id))
