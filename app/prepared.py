"""The fixed statements of the query hot path, run on the driver without Core's machinery.

Every query the service answers runs the same few statements of security work: the session
check, the free-report counter, the query log's head, the entry itself. Through
`Connection.execute`, SQLAlchemy Core spends about 16 µs of Python on each on SQLite (execution
context, parameter dictionaries, result wrapping) where the driver needs about 2 µs, and about
40 µs on PostgreSQL, where psycopg needs about 45 µs with the round trip; on SQLite the log's
statements run while the one writer lock is held. A `Prepared` statement is a Core statement
compiled once per dialect and executed on the connection's own DBAPI cursor (SQLite's
positional, psycopg's named parameters; psycopg prepares it on the server from its fifth use),
with the type conversions Core would apply (each bind parameter's and each result column's
processor for that dialect).

Guarantees:
- the SQL is the Core statement's own compilation, its values always bound by the driver: no
  SQL text is written or assembled here;
- on the same connection and in the same transaction as the caller's other statements (the
  unit's, the snapshot's): nothing here begins, commits or rolls back. A read on a
  connection with no transaction begun (the login gate's) is a statement of its own; a write
  (`run`, `changed`) outside a transaction is refused (`ValueError`), never committed on its
  own. The one statement that writes on its own is a PostgreSQL one-statement unit
  (`Container.statement_unit`): a SELECT over data-modifying CTEs, run with `rows`;
- a driver error goes through the connection's own error handling, exactly as in
  `Connection.execute`: raised as Core raises it (`OperationalError`, `IntegrityError`, ...,
  so the 503 mapping of `app.services.failures` is unchanged), its parameters never part of
  it, and a connection found dead invalidated with the rest of the pool (the next checkout
  connects afresh);
- the engine's `after_cursor_execute` listeners still run after each statement (the group
  commit notes there what an answer could have seen).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.expression import Delete, Insert, Select, Update

_Processor = Callable[[Any], Any] | None
Statement = Select[Any] | Insert | Update | Delete


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]  # bind names: in positional order (qmark), or as the SQL names them
    named: bool  # the driver takes a mapping of names (pyformat), else a sequence (qmark)
    binds: tuple[_Processor, ...]  # their processors, same order
    results: tuple[_Processor, ...]  # one per result column (empty: no rows returned)
    defaults: Mapping[str, Any]  # values the statement carries itself (literals)


class Prepared:
    """One Core statement, compiled once per dialect. `column_keys` (INSERT, UPDATE) names
    the columns the statement sets, as `Connection.execute` would infer them from the
    parameters."""

    def __init__(self, statement: Statement, column_keys: Sequence[str] = ()) -> None:
        self.statement = statement
        self.column_keys = tuple(column_keys)
        self._by_dialect: dict[str, _Compiled] = {}

    def rows(self, connection: Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """The statement's rows (a SELECT), processed like Core's."""
        compiled = self._compiled(connection.dialect)
        cursor = self._run(connection, compiled, params)
        try:
            raw = cursor.fetchall()
        finally:
            cursor.close()
        processors = compiled.results
        return [
            tuple(
                value if processor is None or value is None else processor(value)
                for processor, value in zip(processors, row, strict=True)
            )
            for row in raw
        ]

    def run(self, connection: Connection, params: Mapping[str, Any]) -> None:
        """Run the statement (an INSERT, UPDATE or DELETE) for its effect alone."""
        self._write(connection, params)

    def changed(self, connection: Connection, params: Mapping[str, Any]) -> int:
        """The number of rows the statement (an UPDATE or DELETE) changed."""
        return self._write(connection, params)

    def _write(self, connection: Connection, params: Mapping[str, Any]) -> int:
        """Run a write inside the caller's transaction; the driver's row count."""
        if not connection.in_transaction():
            raise ValueError("a prepared write runs inside a unit of work's transaction")
        cursor = self._run(connection, self._compiled(connection.dialect), params)
        try:
            return int(cursor.rowcount)
        finally:
            cursor.close()

    def _run(self, connection: Connection, compiled: _Compiled, params: Mapping[str, Any]) -> Any:
        defaults = compiled.defaults
        values = tuple(
            _value(params[name] if name in params else defaults[name], processor)
            for name, processor in zip(compiled.names, compiled.binds, strict=True)
        )
        parameters: Any = (
            dict(zip(compiled.names, values, strict=True)) if compiled.named else values
        )
        cursor = connection.connection.cursor()
        try:
            cursor.execute(compiled.sql, parameters)
        except connection.dialect.loaded_dbapi.Error as exc:
            # Core's own handling (SQLAlchemy pinned in requirements.txt; the pool tests kill
            # the server behind a connection): wraps and raises, closes the cursor, and on a
            # disconnect invalidates the connection and the pool
            connection._handle_dbapi_exception(exc, compiled.sql, None, cursor, None)
        except BaseException:
            cursor.close()
            raise
        connection.dispatch.after_cursor_execute(
            connection, cursor, compiled.sql, parameters, None, False
        )
        return cursor

    def _compiled(self, dialect: Dialect) -> _Compiled:
        found = self._by_dialect.get(dialect.name)
        if found is None:
            found = self._by_dialect[dialect.name] = self._compile(dialect)
        return found

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled: Any = self.statement.compile(
            dialect=dialect, column_keys=list(self.column_keys) or None
        )
        if dialect.paramstyle == "qmark" and compiled.positiontup is not None:
            names, named = tuple(compiled.positiontup), False
        elif dialect.paramstyle == "pyformat":
            names, named = tuple(dict.fromkeys(compiled.bind_names.values())), True
        else:
            raise ValueError("prepared statements run qmark (SQLite) or pyformat (psycopg) SQL")
        if any(bind.expanding for bind in compiled.binds.values()):
            raise ValueError("prepared statements take no expanding (IN list) parameters")
        binds = tuple(
            compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in names
        )
        results: tuple[_Processor, ...] = ()
        if isinstance(self.statement, Select):
            results = tuple(
                column.type.dialect_impl(dialect).result_processor(dialect, None)
                for column in self.statement.selected_columns
            )
        defaults = {
            name: bind.effective_value
            for name, bind in compiled.binds.items()
            if bind.value is not None or bind.callable is not None
        }
        return _Compiled(str(compiled), names, named, binds, results, defaults)


def _value(value: Any, processor: _Processor) -> Any:
    return value if processor is None or value is None else processor(value)
