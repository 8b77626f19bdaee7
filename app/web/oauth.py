"""Institutions' OAuth 2.0 endpoints and the bearer-authenticated `whoami`.

- `POST /api/v1/oauth/token`: client credentials, `private_key_jwt` (RFC 6749 §4.4, RFC 7523).
- `POST /api/v1/oauth/revoke`: token revocation (RFC 7009), same client authentication.
- `GET /api/v1/institution/whoami`: who holds this bearer token (any scope).

All three are `@public` and `@csrf_exempt` at the gate because each authenticates every
request itself (a signed assertion or a bearer token); a browser session cookie means nothing
here. The rules live in `app.services.oauth.tokens`; this module only translates HTTP.

**Audience.** An assertion's `aud` must be the token endpoint's absolute URL under the public
URL pinned in the settings (`CREDITGATE_PUBLIC_URL`), e.g.
`https://creditgate.example.gov.cn/api/v1/oauth/token`. Nothing in the request (`Host`,
`X-Forwarded-Host`, `X-Forwarded-Proto`) changes it, so an assertion made for another host is
refused whatever host the request names. The revocation endpoint accepts the token endpoint's
URL or its own.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Blueprint, Response, g, jsonify, request, url_for

from app.services.auth.login_attempts import AttemptLog
from app.services.oauth.tokens import (
    BearerRefused,
    InstitutionPrincipal,
    InstitutionTokens,
    OAuthFailure,
    TokenRequest,
)
from app.services.policy import Action
from app.web import security_events
from app.web.answers import wired
from app.web.gate import bound_to, csrf_exempt, public
from app.web.identity import client_address

bp = Blueprint("oauth", __name__)
F = TypeVar("F", bound=Callable[..., Any])


def _tokens() -> InstitutionTokens:
    parts = wired()
    return InstitutionTokens(parts, AttemptLog(parts.key_provider))


def _external_url(endpoint: str) -> str:
    """This endpoint's absolute URL under the pinned public URL (see the module docstring)."""
    return wired().settings.public_url + url_for(endpoint)


def _token_request(audiences: tuple[str, ...]) -> TokenRequest:
    return TokenRequest(
        params=request.form.to_dict(flat=False),
        address=client_address(),
        audiences=audiences,
        authorization_header="Authorization" in request.headers,
        query_parameters=bool(request.args),
    )


def _failure(failure: OAuthFailure) -> tuple[Response, int]:
    response = jsonify(failure.body())
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    if failure.status == 429:
        response.headers["Retry-After"] = "60"
    return response, failure.status


@bp.post("/api/v1/oauth/token")
@bound_to(Action.AUTH_TOKEN_CREATE)
@public
@csrf_exempt
def token() -> Response | tuple[Response, int]:
    outcome = _tokens().token(_token_request((_external_url("oauth.token"),)))
    if isinstance(outcome, OAuthFailure):
        return _failure(outcome)
    response = jsonify(outcome.body())
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


@bp.post("/api/v1/oauth/revoke")
@bound_to(Action.AUTH_TOKEN_REVOKE)
@public
@csrf_exempt
def revoke() -> Response | tuple[Response, int]:
    audiences = (_external_url("oauth.token"), _external_url("oauth.revoke"))
    failure = _tokens().revoke(_token_request(audiences))
    if failure is not None:
        return _failure(failure)
    return jsonify({})


def require_bearer(scope: str | None) -> Callable[[F], F]:
    """Authenticate the request's bearer token (RFC 6750) for `scope` (None: any scope) before
    the view runs; the view finds the `InstitutionPrincipal` in `g.institution`. A refusal is
    answered here: 400/401/403 with the RFC 6750 body and `WWW-Authenticate` challenge.
    Combine with `@public` and `@csrf_exempt`: the gate must let the request reach this check.
    """

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                principal = _tokens().bearer(request.headers.get("Authorization"), scope)
            except BearerRefused as refused:
                security_events.record(
                    "bearer.refused", refused.error or "no_token", status=refused.status
                )
                response = jsonify(refused.body())
                response.headers["WWW-Authenticate"] = refused.www_authenticate()
                return response, refused.status
            g.institution = principal
            return view(*args, **kwargs)

        return cast(F, wrapper)

    return decorate


@bp.get("/api/v1/institution/whoami")
@bound_to(Action.INSTITUTION_IDENTITY_READ)
@public
@csrf_exempt
@require_bearer(None)
def whoami() -> Response:
    principal: InstitutionPrincipal = g.institution
    return jsonify(
        client_id=principal.client_id,
        name=principal.name,
        credit_code=principal.credit_code,
        scopes=sorted(principal.scopes),
        token_expires_at=principal.token_expires_at.isoformat(),
    )
