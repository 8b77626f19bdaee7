"""What production asks of its database URL, before anything connects.

Guarantee: `production_database_problem` returns None only for a PostgreSQL URL with
`sslmode=verify-full` (TLS that verifies the server's certificate and host name), naming a
login role explicitly, where neither that role nor the role assumed (`CREDITGATE_DATABASE_ROLE`)
looks like an owner or superuser; otherwise one sentence saying what is wrong, never the
password. (`/readyz` checks the role's actual powers once connected: `querylog.guards`.)
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

#: Role names that look like an owner or administrator: production connects as the
#: least-privilege application role (docs/query-log.md: INSERT-only on the log), never these.
_PRIVILEGED_ROLE = re.compile(r"^(postgres|root|admin|.*_owner|.*owner$|.*super.*|.*admin.*)$")


def production_database_problem(url: str, role: str | None = None) -> str | None:
    parsed = urlsplit(url)
    scheme = parsed.scheme.split("+", 1)[0]
    if scheme not in ("postgresql", "postgres"):
        return "CREDITGATE_DATABASE_URL: production runs on PostgreSQL (postgresql://...)"
    query = dict(part.split("=", 1) for part in parsed.query.split("&") if "=" in part)
    if query.get("sslmode") != "verify-full":
        return (
            "CREDITGATE_DATABASE_URL: production needs TLS with sslmode=verify-full "
            "(and sslrootcert= the database server's CA)"
        )
    for name, value in (
        ("user in CREDITGATE_DATABASE_URL", parsed.username),
        ("CREDITGATE_DATABASE_ROLE", role),
    ):
        if value and _PRIVILEGED_ROLE.match(value.strip().lower()):
            return (
                f"{name}: {value!r} looks like an owner or superuser; production connects as "
                "the least-privilege application role (e.g. creditgate_app)"
            )
    if not parsed.username:
        return "CREDITGATE_DATABASE_URL: name the application role (user@host) explicitly"
    return None
