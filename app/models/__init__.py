"""ORM models. Models never commit: services own the transaction."""

from app.models.accounts import Account, AccountKind, AccountRole, Role
from app.models.base import Base
from app.models.domain import DataProvider, Record, Subject
from app.models.keys import DataKey, DataKeyState

__all__ = [
    "Account",
    "AccountKind",
    "AccountRole",
    "Base",
    "DataKey",
    "DataKeyState",
    "DataProvider",
    "Record",
    "Role",
    "Subject",
]
