"""Staff actions taken at the server's command line as query-log entries (ARCHITECTURE §7:
payments, refunds, top-ups, role grants, cards, keys, institutions — the review covers the
people inside).

`flask institutions|accounts|keys|cards …` are run by an operator holding the host, with no
login of the service: the entry names them as actor kind `operator` and their login name at
the host (`getpass.getuser()`, reduced to the characters an actor reference may hold), the
client address `cli`, and one request id per command.

Guarantees (the one shape of a logged query, for a caller the policy does not decide):
- `done` appends the allowed entry in the unit `db` that makes the change, so the change and
  its entry commit together or not at all (no try/except around the append);
- `refused` appends the denied entry, naming the refusal's code, in a fresh unit after the
  change's unit rolled back: a refused command changes nothing but the log;
- an entry names the action, a snake_case reason, the subject only by blind index, never a
  key, a password, a PEM file, an ID number or a name.
"""

from __future__ import annotations

import getpass
import re
from datetime import datetime

from sqlalchemy.orm import Session

from app.services.querylog.attempt import Parts
from app.services.querylog.log import QueryAttempt, new_request_id
from policies.actions import Action

HOST_KIND = "operator"
HOST_ADDRESS = "cli"
_NOT_IN_REF = re.compile(r"[^A-Za-z0-9._@-]")
_NOT_IN_CODE = re.compile(r"[^a-z0-9_]")


def host_login() -> str:
    """Who runs the command at the host, as an actor reference."""
    try:
        login = getpass.getuser()
    except (KeyError, OSError):  # no login name (a container's unnamed uid)
        login = "unknown"
    return _NOT_IN_REF.sub("_", login)[:64] or "unknown"


def code(text: str) -> str:
    """`text` as a snake_case reason (e.g. a role or a key label)."""
    return _NOT_IN_CODE.sub("_", text.casefold())[:64]


class HostAction:
    """One command's attempt at `action`, logged once."""

    def __init__(self, parts: Parts, action: Action) -> None:
        self.parts = parts
        self.action = action
        self.request_id = new_request_id()
        self.actor_ref = host_login()

    def _attempt(
        self, decision: str, reason: str, subject_bidx: bytes | None, at: datetime
    ) -> QueryAttempt:
        return QueryAttempt(
            action=self.action.value,
            decision=decision,
            reason=reason,
            actor_kind=HOST_KIND,
            actor_ref=self.actor_ref,
            request_id=self.request_id,
            client_address=HOST_ADDRESS,
            subject_bidx=subject_bidx,
            at=at,
        )

    def done(self, db: Session, reason: str = "done", subject_bidx: bytes | None = None) -> None:
        """The allowed entry, in the unit that makes the change."""
        attempt = self._attempt("allowed", reason, subject_bidx, self.parts.clock.now())
        self.parts.query_log().append(db, attempt)

    def refused(self, reason: str, subject_bidx: bytes | None = None) -> None:
        """The denied entry, in a unit of its own (the change's unit rolled back)."""
        with self.parts.unit() as db:
            attempt = self._attempt("denied", reason, subject_bidx, self.parts.clock.now())
            self.parts.query_log().append(db, attempt)
