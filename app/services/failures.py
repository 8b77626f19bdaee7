"""The failures on which the service answers 503 and discloses nothing (fail closed).

Web handlers map exactly these; everything else is a bug and a 500. Messages of these
exceptions may name a key label or a table, never a secret, but they still never reach a
response body.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, OperationalError

from crypto.envelope import EnvelopeError
from crypto.keyring import DataKeyUnavailable
from crypto.keys import HsmError

#: The HSM, a data key or a sealed value could not do its part.
KEY_FAILURES: tuple[type[Exception], ...] = (HsmError, DataKeyUnavailable, EnvelopeError)

#: The database could not do its part (a commit that could not be made durable included).
DATABASE_FAILURES: tuple[type[Exception], ...] = (OperationalError, DBAPIError)
