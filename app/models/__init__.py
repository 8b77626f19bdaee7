"""ORM models. Models never commit: services own the transaction."""

from app.models.accounts import Account, AccountKind, AccountRole, Role
from app.models.auth import (
    AccessToken,
    AuthSession,
    Card,
    ClientAssertionUse,
    Institution,
    LoginAttempt,
    LoginChallenge,
    TotpCredential,
    TotpUsedStep,
)
from app.models.base import Base
from app.models.billing import (
    LedgerAccount,
    LedgerEntry,
    LedgerKind,
    Order,
    OrderKind,
    OrderStatus,
    PaidVia,
    PaymentNotification,
    RefusedNotification,
)
from app.models.cases import ReviewCase, ReviewCaseEvent
from app.models.consents import Consent, ConsentRevocation
from app.models.domain import DataProvider, Record, Subject
from app.models.exchange import (
    ExchangeBundle,
    ExchangePeer,
    ExchangePublished,
    ExchangeReceiveKey,
)
from app.models.government import GovernmentAgency
from app.models.grades import GradeApproval, SubjectGrade
from app.models.intake import CollectionConsent, IntakeBatch, IntakeError, PriorNotice
from app.models.keys import DataKey, DataKeyState
from app.models.lists import ListChange, ListPublication
from app.models.query_log import LogCheckpoint, QueryLogEntry, QueryLogHead
from app.models.repair import RepairApplication, RepairEvidence
from app.models.reports import IssuedReport, ReportCertificate, ReportVerificationUse
from app.models.review import ReviewFlag, ReviewSweep, StaffRelation
from app.models.rights import Objection, ObjectionAnswer, ReleasedRecord, Statement
from app.models.usage import DailyUse, PublicListEntry, ReportAllowance

__all__ = [
    "AccessToken",
    "Account",
    "AccountKind",
    "AccountRole",
    "AuthSession",
    "Base",
    "Card",
    "ClientAssertionUse",
    "CollectionConsent",
    "Consent",
    "ConsentRevocation",
    "DailyUse",
    "DataKey",
    "DataKeyState",
    "DataProvider",
    "ExchangeBundle",
    "ExchangePeer",
    "ExchangePublished",
    "ExchangeReceiveKey",
    "GovernmentAgency",
    "GradeApproval",
    "Institution",
    "IntakeBatch",
    "IntakeError",
    "IssuedReport",
    "LedgerAccount",
    "LedgerEntry",
    "LedgerKind",
    "ListChange",
    "ListPublication",
    "LogCheckpoint",
    "LoginAttempt",
    "LoginChallenge",
    "Objection",
    "ObjectionAnswer",
    "Order",
    "OrderKind",
    "OrderStatus",
    "PaidVia",
    "PaymentNotification",
    "PriorNotice",
    "PublicListEntry",
    "QueryLogEntry",
    "QueryLogHead",
    "Record",
    "RefusedNotification",
    "ReleasedRecord",
    "RepairApplication",
    "RepairEvidence",
    "ReportAllowance",
    "ReportCertificate",
    "ReportVerificationUse",
    "ReviewCase",
    "ReviewCaseEvent",
    "ReviewFlag",
    "ReviewSweep",
    "Role",
    "StaffRelation",
    "Statement",
    "Subject",
    "SubjectGrade",
    "TotpCredential",
    "TotpUsedStep",
]
