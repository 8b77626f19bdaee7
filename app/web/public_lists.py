"""Free search of the public lists by name or ID number (`app.services.lists.search`)."""

from __future__ import annotations

from flask import Blueprint, Response

from app.services.lists.search import PublicListSearch
from app.services.policy import Action
from app.web.answers import asker, http, sent_body, wired
from app.web.gate import bound_to

bp = Blueprint("public_lists", __name__, url_prefix="/api/v1/public/lists")


@bp.post("/search")
@bound_to(Action.PUBLIC_LIST_SEARCH)
def search() -> tuple[Response, int]:
    return http(PublicListSearch(wired()).search(asker(), sent_body()))
