"""No answer leaves before the commits it could have seen are on disk (SQLite group commit).

A unit of work waits for its own commit (`Container.core_transaction`), except a query's unit,
whose flush runs while the answer is built (`GroupCommit.start_durable`): this hook waits for
it first. An answer that only read may have seen another worker's commit that is still
waiting for its flush. Every statement notes the commits it could have seen
(`GroupCommit.watch`); this hook runs before every response is sent and, when one of those is
not yet known to be synced, syncs the write-ahead log first
(`app.group_commit.GroupCommit.barrier`: no system call at all when the request read nothing,
or when its own unit's flush already covered what it read). The note is cleared when the
request ends (a flush no answer waited for is reaped then). If the flush fails, the answer is
replaced by the 503 of every failure: nothing read is disclosed, and the request's query
attempts whose units had committed are logged as failed as well
(`app.web.query_call.flush_failed`). PostgreSQL needs none of this (its commits are durable
before they are visible).

Registered last, so it runs first among the after-request hooks and a 503 it makes still gets
the security headers and the request id.
"""

from __future__ import annotations

from flask import Flask, Response

from app.container import container
from app.services.failures import DATABASE_FAILURES
from app.web.errors import database_failure
from app.web.query_call import flush_failed


def init_app(app: Flask) -> None:
    @app.after_request
    def durable_before_sent(response: Response) -> Response:
        group_commit = container().group_commit
        if group_commit is None:
            return response
        try:
            group_commit.barrier()
        except DATABASE_FAILURES as exc:
            flush_failed()  # the query units that committed are logged as failed attempts
            body, status = database_failure(exc)
            body.status_code = status
            return body
        return response

    @app.teardown_request
    def forget_what_was_seen(_exc: BaseException | None) -> None:
        group_commit = container().group_commit
        if group_commit is not None:
            group_commit.forget_seen()
