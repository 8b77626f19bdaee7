"""The Core connection of a unit of work.

Hot-path services (the query-log append, the counted allowances) run Core statements only. They
accept the unit's ORM session or its connection, and look the connection up once per call:
every `Session.connection()` goes through the session's transaction bookkeeping, which costs
as much as the statement it runs on SQLite.
"""

from __future__ import annotations

from sqlalchemy import Connection
from sqlalchemy.orm import Session


def connection_of(unit: Session | Connection) -> Connection:
    """The connection `unit` runs on: the session's (beginning its transaction if it has not
    begun), or `unit` itself. Changes nothing about the unit's transaction."""
    return unit if isinstance(unit, Connection) else unit.connection()
