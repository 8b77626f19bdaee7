"""Rotation racing an in-flight seal, on real committed transactions (no savepoint fixture).

The guarantee: nothing is ever committed under a data key after that key was retired, so a
later re-wrap can count on seeing every row that uses it.
"""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from app.db import make_engine, make_session_factory
from app.migrate import upgrade
from app.models import DataKey
from app.services.keys.lifecycle import KeyService, data_key_loader
from crypto.fields import FieldCipher
from crypto.keyring import DataKeyRing
from crypto.keys import KeyProvider, WrappingKey
from tests.conftest import BACKENDS, ScratchDatabase

MASTER = WrappingKey.MASTER.value


def _service(url: str, provider: KeyProvider) -> tuple[Engine, sessionmaker[Session], KeyService]:
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    cipher = FieldCipher(DataKeyRing(provider, data_key_loader(sessions)))
    return engine, sessions, KeyService(provider, cipher)


@pytest.mark.parametrize("scratch_database", BACKENDS, indirect=True)
def test_a_rotation_cannot_retire_a_key_under_an_uncommitted_seal(
    scratch_database: ScratchDatabase, key_provider: KeyProvider
) -> None:
    upgrade(scratch_database.url)
    engine, sessions, keys = _service(scratch_database.url, key_provider)
    with sessions() as setup, setup.begin():
        first = keys.active_key_id(setup, MASTER)

    sealer = sessions()
    sealer.begin()
    assert keys.active_key_id(sealer, MASTER) == first  # the in-flight seal holds the key

    rotator = sessions()
    if scratch_database.backend == "postgresql":
        with rotator.begin():
            rotator.execute(text("SET LOCAL lock_timeout = '300ms'"))
            with pytest.raises(OperationalError, match="lock timeout"):
                keys.rotate(rotator, MASTER)
        # The seal commits a row under the still-active key; then the rotation goes through.
        sealer.add(DataKey(id=7, wrapping_label="cg-epoch-2999-01", state="retired"))
        sealer.commit()
        with rotator.begin():
            old, new = keys.rotate(rotator, MASTER)
        assert old == first
    else:
        # SQLite serialises writers: the rotation commits first, and the sealer, whose
        # snapshot saw the old key active, can no longer write at all.
        with rotator.begin():
            old, new = keys.rotate(rotator, MASTER)
        assert old == first
        sealer.add(DataKey(id=7, wrapping_label="cg-epoch-2999-01", state="retired"))
        with pytest.raises(OperationalError):
            sealer.flush()
        sealer.rollback()
    sealer.close()
    rotator.close()
    with sessions() as check:
        states = {
            key_id: state for key_id, state in check.execute(select(DataKey.id, DataKey.state))
        }
    assert states[first] == "retired"
    assert states[new] == "active"
    engine.dispose()
