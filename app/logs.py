"""Structured logs: one JSON object per line on stdout, for a collector (docs/logs.md).

Guarantees:
- every record of the `creditgate` loggers is written as one line of JSON to the process's
  stdout (whatever `sys.stdout` is at the time; stderr while a `flask` command runs), with
  `time` (UTC, ISO 8601 with milliseconds and `Z`), `level`, `logger`, `event` (the record's
  event type, `log` when it has none), `request_id` (when made while serving a request) and
  `message`, plus the whitelisted fields `FIELDS` a record carries; nothing else, so an
  argument passed to a log call by mistake cannot add a column;
- the handler is installed once per process however many apps are built (tests build many);
- messages are data, never interpreted: a newline or a quote in one stays inside its string.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TextIO

import click

#: Extra fields a record may carry into its JSON line (all str or int).
FIELDS = (
    "reason",
    "status",
    "method",
    "path",
    "endpoint",
    "client_address",
    "actor",
    "scope",
)
_HANDLER_MARK = "_creditgate_json"


class JsonFormatter(logging.Formatter):
    def __init__(self, request_id: Callable[[], str | None] = lambda: None) -> None:
        super().__init__()
        self._request_id = request_id

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, UTC)
        line: dict[str, object] = {
            "time": moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "event": str(getattr(record, "event", "log")),
            "request_id": getattr(record, "request_id", None) or self._request_id(),
            "message": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if isinstance(value, str | int):
                line[name] = value
        if record.exc_info and record.exc_info[0] is not None:
            line["exception"] = record.exc_info[0].__name__  # the type only: no values
        return json.dumps(line, ensure_ascii=False, separators=(",", ":"))


class StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler on the current `sys.stdout` (not the one at creation); while a `flask`
    command runs, on `sys.stderr` instead, so that a command's own output (a PEM certificate
    redirected to a file, a client id read by a script) never has log lines mixed in."""

    @property
    def stream(self) -> TextIO:
        if click.get_current_context(silent=True) is not None:
            return sys.stderr
        return sys.stdout

    @stream.setter
    def stream(self, _: TextIO) -> None:
        pass


def install(request_id: Callable[[], str | None]) -> None:
    """Send the `creditgate` loggers' records to stdout as JSON lines (once per process)."""
    logger = logging.getLogger("creditgate")
    logger.setLevel(logging.INFO)
    if any(getattr(handler, _HANDLER_MARK, False) for handler in logger.handlers):
        return
    handler = StdoutHandler()
    handler.setFormatter(JsonFormatter(request_id))
    setattr(handler, _HANDLER_MARK, True)
    logger.addHandler(handler)
