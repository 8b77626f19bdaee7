"""Where the client keeps its login: ``$CREDITGATE_CLIENT_HOME/session`` (``~/.creditgate``).

Guarantees:
- the directory is made 0700 and the file 0600 (created with that mode, then moved into place
  atomically, so no other user can ever read a partly written file); an existing directory is
  narrowed to 0700;
- the file holds the service origin and the session cookie, nothing else: never the password
  or the card PIN; ``repr`` of a `SavedSession` never shows the cookie;
- a file that is unreadable or not ours in shape counts as no session (and is not sent).
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

HOME_ENV = "CREDITGATE_CLIENT_HOME"
COOKIE_NAME = "__Host-cg_session"


@dataclass(frozen=True)
class SavedSession:
    origin: str  # scheme://host[:port], the only place the cookie is sent
    cookie: str = field(repr=False)


def client_home() -> Path:
    configured = os.environ.get(HOME_ENV)
    return Path(configured) if configured else Path.home() / ".creditgate"


def session_path() -> Path:
    return client_home() / "session"


def save(session: SavedSession) -> Path:
    """Write the session file (0600 in a 0700 directory), replacing any older one."""
    home = client_home()
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(home, 0o700)
    target = home / "session"
    temporary = home / f".session.{secrets.token_hex(4)}"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"origin": session.origin, "cookie": session.cookie}, handle)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return target


def load() -> SavedSession | None:
    try:
        data = json.loads(session_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    origin, cookie = data.get("origin"), data.get("cookie")
    if not isinstance(origin, str) or not isinstance(cookie, str) or not cookie:
        return None
    return SavedSession(origin=origin, cookie=cookie)


def forget() -> None:
    session_path().unlink(missing_ok=True)
