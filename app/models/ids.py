"""Row ids: time-ordered UUIDs (RFC 9562 version 7), generated before insert.

Sealed values bind their row id into the AAD, so ids must exist before the row is written;
the millisecond timestamp prefix keeps B-tree inserts local on SQLite and PostgreSQL alike, and
74 random bits keep ids unique across processes.
"""

from __future__ import annotations

import os
import time
import uuid


def uuid7() -> uuid.UUID:
    stamp = (time.time_ns() // 1_000_000) & 0xFFFFFFFFFFFF
    rand = int.from_bytes(os.urandom(10), "big")
    value = stamp << 80
    value |= 0x7 << 76  # version
    value |= ((rand >> 62) & 0xFFF) << 64  # rand_a
    value |= 0b10 << 62  # variant
    value |= rand & 0x3FFFFFFFFFFFFFFF  # rand_b
    return uuid.UUID(int=value)
