"""Core statements compiled once per dialect and run on the driver's cursor.

Every action runs the same handful of statements: load the actor's grants and the
row, read who submitted, move the row, read and move the chain head, insert the
entry. For statements that small, SQLAlchemy's execute path (cache key, parameter
processing, result objects, events) costs more than the database's own work, so
these are compiled by SQLAlchemy once per dialect and handed straight to the
DB-API cursor of the caller's connection and transaction. SQLAlchemy still writes
the SQL, and its bind processors still turn Python values into what the driver
stores, so a row is stored exactly as an ORM flush would store it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]  # bind names in the order the driver wants them
    processors: tuple[Callable[[Any], Any] | None, ...]
    defaults: dict[str, Any]  # values bound in the statement itself (`id == 1`, `LIMIT 1`)
    positional: bool


class Prepared:
    """One statement; `rows`, `first` and `rowcount` run it with named parameters."""

    def __init__(self, statement: ClauseElement):
        self.statement = statement
        self._compiled: dict[tuple[str, str], _Compiled] = {}

    def rows(self, connection: Connection, **params) -> list[tuple]:
        return self._taken(connection, params, lambda cursor: cursor.fetchall())

    def first(self, connection: Connection, **params) -> tuple | None:
        return self._taken(connection, params, lambda cursor: cursor.fetchone())

    def rowcount(self, connection: Connection, **params) -> int:
        return self._taken(connection, params, lambda cursor: cursor.rowcount)

    def _taken(self, connection: Connection, params: dict, take: Callable[[Any], Any]):
        cursor = self._run(connection, params)
        try:
            return take(cursor)
        finally:
            cursor.close()

    def _run(self, connection: Connection, params: dict):
        dialect = connection.dialect
        compiled = self._compiled.get((dialect.name, dialect.paramstyle)) or self._compile(dialect)
        values = [
            value if process is None else process(value)
            for value, process in zip(
                (params[n] if n in params else compiled.defaults[n] for n in compiled.names),
                compiled.processors,
                strict=True,
            )
        ]
        args = values if compiled.positional else dict(zip(compiled.names, values, strict=True))
        cursor = connection.connection.driver_connection.cursor()
        try:
            cursor.execute(compiled.sql, args)
        except dialect.loaded_dbapi.Error as err:
            cursor.close()
            # Wrapped as SQLAlchemy would, so the unit of work translates it like any other.
            raise DBAPIError.instance(compiled.sql, args, err, dialect.loaded_dbapi.Error, dialect=dialect) from err
        return cursor

    def _compile(self, dialect) -> _Compiled:
        compiled = self.statement.compile(dialect=dialect)
        if "POSTCOMPILE" in compiled.string:
            raise ValueError(f"cannot prepare a statement with expanding parameters: {compiled.string}")
        # `binds` may also hold parameters the SQL does not use (an UPDATE … FROM a CTE has one).
        if compiled.positional:
            names = tuple(compiled.positiontup)
        else:
            names = tuple(dict.fromkeys(compiled.bind_names.values()))
        processors = tuple(compiled.binds[n].type.bind_processor(dialect) for n in names)
        defaults = {n: compiled.binds[n].effective_value for n in names}
        prepared = _Compiled(compiled.string, names, processors, defaults, bool(compiled.positional))
        self._compiled[(dialect.name, dialect.paramstyle)] = prepared
        return prepared
