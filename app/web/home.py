"""The landing page: what this service is and what a visitor can do without logging in."""

from __future__ import annotations

from flask import Blueprint, render_template

from app.container import container
from app.services.policy import Action
from app.web.gate import bound_to, public

bp = Blueprint("home", __name__)


@bp.get("/")
@bound_to(Action.SERVICE_HOME_READ)
@public
def index() -> str:
    parts = container()
    return render_template(
        "index.html",
        side=parts.settings.side.value,
        catalog=parts.catalog,
    )
