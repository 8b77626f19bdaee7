"""What every logged-in client command shares: the saved session, the session's facts, and
one authenticated request to the service.

Guarantees: the session cookie and the CSRF token are sent only to the origin the login was
made with and are never printed or written anywhere but the session file; a session the
server no longer knows is forgotten; a refusal becomes one line with the server's reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.client import store
from app.client.http import Reply, multipart, request

UNAVAILABLE = "The service is unavailable right now; nothing was released. Try again later."


class Stop(Exception):
    """End the command with exit `code` and this one-line message on stderr."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def saved() -> store.SavedSession:
    found = store.load()
    if found is None:
        raise Stop(1, "Not logged in. Run: python -m app.client login --help")
    return found


def session_facts(session: store.SavedSession) -> dict[str, Any]:
    """`GET /api/v1/auth/session` (username, methods, subject_ref, csrf_token, …)."""
    reply = request(
        session.origin,
        "GET",
        "/api/v1/auth/session",
        cookie=f"{store.COOKIE_NAME}={session.cookie}",
    )
    if reply.status != 200:
        store.forget()
        raise Stop(1, "Your session has ended. Log in again.")
    return reply.body


class Service:
    """The logged-in service: requests carry the cookie, and POSTs the session's CSRF token."""

    def __init__(self) -> None:
        self.session = saved()
        self._facts: dict[str, Any] | None = None

    @property
    def facts(self) -> dict[str, Any]:
        if self._facts is None:
            self._facts = session_facts(self.session)
        return self._facts

    def get(self, path: str, *, accept: str | None = None) -> Reply:
        return self._send("GET", path, None, accept=accept)

    def post(
        self, path: str, body: Mapping[str, Any] | None = None, *, accept: str | None = None
    ) -> Reply:
        csrf = self.facts.get("csrf_token")
        token = csrf if isinstance(csrf, str) else ""
        return self._send("POST", path, dict(body or {}), token, accept=accept)

    def post_form(
        self, path: str, fields: dict[str, str], files: list[tuple[str, str, str, bytes]]
    ) -> Reply:
        """POST a multipart form (uploads) with the session's CSRF token."""
        csrf = self.facts.get("csrf_token")
        token = csrf if isinstance(csrf, str) else ""
        return self._send("POST", path, None, token, form=multipart(fields, files))

    def _send(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        csrf: str | None = None,
        *,
        accept: str | None = None,
        form: tuple[bytes, str] | None = None,
    ) -> Reply:
        headers = {} if csrf is None else {"X-CSRF-Token": csrf}
        if accept is not None:
            headers["Accept"] = accept
        reply = request(
            self.session.origin,
            method,
            path,
            body=body,
            cookie=f"{store.COOKIE_NAME}={self.session.cookie}",
            headers=headers,
            form=form,
        )
        if reply.status == 401:
            store.forget()
            raise Stop(1, "Your session has ended. Log in again.")
        return reply


def refused(reply: Reply, messages: Mapping[str, str] | None = None) -> Stop:
    """The one-line refusal for a non-2xx reply: our wording for a known code, else the
    server's message (never the request's content)."""
    if reply.status == 503 or reply.status >= 500:
        return Stop(1, UNAVAILABLE)
    code = reply.body.get("error")
    message = reply.body.get("message")
    if isinstance(code, str) and messages and code in messages:
        text = messages[code]
    elif isinstance(message, str) and message:
        text = message
    else:
        text = f"The service refused the request (HTTP {reply.status})."
    if reply.status == 403 and code == "step_up_required":
        text += " Log in with password and card: python -m app.client login --help"
    label = code if isinstance(code, str) and code else f"HTTP {reply.status}"
    return Stop(1, f"Refused ({label}): {text}")
