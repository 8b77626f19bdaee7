"""JSON (and, for a report asked for as PDF, a file) over HTTP(S) to one CreditGate origin,
with urllib only.

Guarantees:
- plain ``http://`` is accepted only for a loopback host (127.0.0.0/8, ::1, localhost): a
  password is never sent in clear over a network; ``https://`` certificates are verified;
- redirects are never followed (a request, its body and its cookie go to the origin named and
  nowhere else) and loopback requests never go through a proxy;
- responses are read up to `MAX_RESPONSE_BYTES`; a body that is not a JSON object reads as {}
  (its bytes and media type stay in `Reply.raw` and `Reply.media_type`).
"""

from __future__ import annotations

import ipaddress
import json
import secrets
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import urlsplit

MAX_RESPONSE_BYTES = 8 * 1024 * 1024  # a full report with its query records
TIMEOUT_SECONDS = 30.0


class ServiceUnreachable(Exception):
    """The service could not be reached (the message says where and why)."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any]
    cookies: dict[str, str] = field(repr=False)
    raw: bytes = field(default=b"", repr=False)
    media_type: str = ""


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of `url`; `ValueError` (with the reason) if it may not be used."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise ValueError("plain http is allowed only to this machine; use an https:// URL")
    return f"{parts.scheme}://{parts.netloc}"


def request(
    origin: str,
    method: str,
    path: str,
    *,
    body: dict[str, Any] | None = None,
    cookie: str | None = None,
    headers: dict[str, str] | None = None,
    form: tuple[bytes, str] | None = None,
) -> Reply:
    """One request to `origin` + `path` (a JSON `body`, or an encoded `form`: its bytes and
    content type); `ServiceUnreachable` if no HTTP answer came back."""
    host = urlsplit(origin).hostname or ""
    handlers: list[urllib.request.BaseHandler] = [_NoRedirect()]
    if _loopback(host):
        handlers.append(urllib.request.ProxyHandler({}))
    opener = urllib.request.build_opener(*handlers)
    data = None if body is None else json.dumps(body).encode("utf-8")
    if form is not None:
        data = form[0]
    sent = urllib.request.Request(origin + path, data=data, method=method)  # noqa: S310
    if not any(name.lower() == "accept" for name in headers or {}):
        sent.add_header("Accept", "application/json")
    if data is not None:
        sent.add_header("Content-Type", "application/json" if form is None else form[1])
    if cookie is not None:
        sent.add_header("Cookie", cookie)
    for name, value in (headers or {}).items():
        sent.add_header(name, value)
    try:
        with opener.open(sent, timeout=TIMEOUT_SECONDS) as response:
            return _reply(response.status, response.read(MAX_RESPONSE_BYTES), response.headers)
    except urllib.error.HTTPError as error:
        with error:
            return _reply(error.code, error.read(MAX_RESPONSE_BYTES), error.headers)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ServiceUnreachable(f"Cannot reach {origin}: {reason}.") from None


def _reply(status: int, raw: bytes, headers: Any) -> Reply:
    media_type = (headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
    try:
        parsed = json.loads(raw.decode("utf-8")) if raw and media_type != "application/pdf" else {}
    except ValueError:
        parsed = {}
    cookies: dict[str, str] = {}
    for line in headers.get_all("Set-Cookie") or []:
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(line)
        except CookieError:
            continue
        cookies.update({name: morsel.value for name, morsel in jar.items()})
    return Reply(status, parsed if isinstance(parsed, dict) else {}, cookies, raw, media_type)


def multipart(
    fields: dict[str, str], files: list[tuple[str, str, str, bytes]]
) -> tuple[bytes, str]:
    """A multipart/form-data body: `fields`, then `files` as (field, file name, type, bytes);
    returns the body and its content type."""
    boundary = f"creditgate-{secrets.token_hex(16)}"
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + value.encode("utf-8")
            + b"\r\n"
        )
    for name, filename, media, content in files:
        safe = filename.replace('"', "_").replace("\r", "_").replace("\n", "_")
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{safe}"\r\nContent-Type: {media}\r\n\r\n'
        )
        parts.append(head.encode("utf-8") + content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"
