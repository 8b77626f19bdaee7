"""JSON text as the service accepts it from outside: UTF-8 only, and never a crash.

Guarantees:
- `loads` accepts bytes only if they are UTF-8 (RFC 8259 §8.1) without a byte-order mark and
  without NUL bytes (which no JSON text holds, and which UTF-16 and UTF-32 are full of), and
  text only if it does not begin with a byte-order mark;
- `loads` raises `MalformedJson` (a `ValueError`) and nothing else for any text it refuses,
  however deep its nesting: a parse that runs out of stack is a malformed body, not a crash;
- `encoding_problem` names what is wrong with the encoding of a body in words a client can
  act on; it never quotes the body.
"""

from __future__ import annotations

import json
from typing import Any

UTF8_BOM = b"\xef\xbb\xbf"
NOT_UTF8 = "The body must be JSON encoded as UTF-8 (not UTF-16 or UTF-32)."
HAS_BOM = "The body must be JSON encoded as UTF-8 without a byte-order mark."
TOO_DEEP = "The body's JSON is nested too deeply."


class MalformedJson(ValueError):
    """A JSON text the service refuses; the message says why and never quotes the text."""


def encoding_problem(data: bytes) -> str | None:
    """Why `data` is not a UTF-8 JSON text's encoding, or None if its encoding is fine."""
    if data.startswith(UTF8_BOM) or data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return HAS_BOM
    if b"\x00" in data:
        return NOT_UTF8
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return NOT_UTF8
    return None


def loads(data: bytes | bytearray | str) -> Any:
    """The value of a JSON text, or `MalformedJson` (see the module guarantees)."""
    if isinstance(data, bytes | bytearray):
        problem = encoding_problem(bytes(data))
        if problem is not None:
            raise MalformedJson(problem)
        text = bytes(data).decode("utf-8")
    else:
        text = data
        if text.startswith("\ufeff"):
            raise MalformedJson(HAS_BOM)
    try:
        return json.loads(text)
    except RecursionError:
        raise MalformedJson(TOO_DEEP) from None
    except ValueError as exc:
        raise MalformedJson(f"The body is not valid JSON ({type(exc).__name__}).") from None
