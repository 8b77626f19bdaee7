"""An officer at the server's command line (`flask review …`), as a logged query's asker.

The command names the officer (`--officer`, an active staff account holding the `compliance`
role); every command is then a logged query under that account, decided by the same policy
as the console. The server's shell stands in for the interactive login: whoever runs the
command already holds the host, so the asker carries the staff login's methods (password and
TOTP) and the account's own roles; an account without the role is refused by the policy like
a browser session without it.
"""

from __future__ import annotations

from sqlalchemy import select

from app.models import Account, AccountRole
from app.services.querylog.attempt import Asker, Parts
from app.services.querylog.log import new_request_id
from policies.decision import Caller

#: What the shell proves (see the module docstring).
SHELL_METHODS = frozenset({"password", "totp"})


def officer_asker(parts: Parts, username: str) -> Asker | None:
    """The asker for the active staff account `username`, or None if there is none."""
    with parts.unit() as db:
        account = db.scalars(
            select(Account).where(Account.username == username.strip().casefold())
        ).one_or_none()
        if account is None or account.kind != "staff" or account.status != "active":
            return None
        roles = frozenset(
            db.scalars(select(AccountRole.role).where(AccountRole.account_id == account.id))
        )
        account_id = account.id
    return Asker(
        caller=Caller("staff", SHELL_METHODS, roles),
        actor_ref=str(account_id),
        request_id=new_request_id(),
        client_address="cli",
        account_id=account_id,
    )
