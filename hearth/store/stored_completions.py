"""The ``stored_completions`` table: chat completions created with ``store: true``.

A row keeps the request body as sent, the ``ChatCompletion`` as returned and the caller's
``metadata``. Every query is scoped to one project, so another project's id reads as
missing (and is refused as a cursor).
"""

from __future__ import annotations

import builtins
from typing import Any

from sqlalchemy import Select, exists, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import GenericFunction

from hearth.domain import Page, PageParams
from hearth.store.models import StoredCompletion, next_seq
from hearth.store.pages import page_list, paginate


class StoredCompletionRepository:
    """Insert, page (model / metadata filters), get, update metadata, delete, page a
    row's request messages, and select rows for evals."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def insert(
        self,
        project_id: str,
        *,
        request: dict[str, Any],
        response: dict[str, Any],
        metadata: dict[str, str],
    ) -> StoredCompletion:
        """A new row for ``response`` (a ``ChatCompletion`` as JSON: its ``id``, ``model``
        and ``created`` become the row's). Raises ``IntegrityError`` for an unknown
        project."""
        row = StoredCompletion(
            id=response["id"],
            project_id=project_id,
            model=response["model"],
            request=request,
            response=response,
            metadata_=dict(metadata),
            created_at=response["created"],
            seq=next_seq(),
        )
        with self._sessions.begin() as session:
            session.add(row)
        return row

    def page(
        self,
        project_id: str,
        page: PageParams,
        *,
        model: str | None,
        metadata: dict[str, str] | None,
    ) -> Page[StoredCompletion]:
        """One page of the project's rows in creation order, only those of ``model`` and
        carrying every ``metadata`` pair. ``InvalidRequest`` for a cursor that is not one
        of them."""
        with self._sessions() as session:
            return paginate(session, _filtered(project_id, model, metadata), StoredCompletion, page)

    def get(self, project_id: str, completion_id: str) -> StoredCompletion | None:
        """The project's row ``completion_id``; None if there is none."""
        with self._sessions() as session:
            return _get(session, project_id, completion_id)

    def update_metadata(
        self, project_id: str, completion_id: str, metadata: dict[str, str]
    ) -> StoredCompletion | None:
        """Replace the row's metadata; the updated row, or None if there is none."""
        with self._sessions.begin() as session:
            row = _get(session, project_id, completion_id)
            if row is not None:
                row.metadata_ = dict(metadata)
        return row

    def delete(self, project_id: str, completion_id: str) -> bool:
        """Delete the project's row; False if there was none."""
        with self._sessions.begin() as session:
            row = _get(session, project_id, completion_id)
            if row is not None:
                session.delete(row)
        return row is not None

    def messages(
        self,
        project_id: str,
        completion_id: str,
        page: PageParams,
    ) -> Page[tuple[int, dict[str, Any]]] | None:
        """One page of the row's request messages as ``(index, message)``, paged as every
        list (a message's cursor id is ``<completion id>-<index>``); None if there is no
        such row. ``InvalidRequest`` for a cursor that names no message of it."""
        row = self.get(project_id, completion_id)
        if row is None:
            return None
        indexed = list(enumerate(row.request.get("messages", [])))
        return page_list(indexed, [f"{row.id}-{i}" for i, _ in indexed], page)

    def select(
        self,
        project_id: str,
        *,
        metadata: dict[str, str] | None,
        model: str | None,
        created_after: int | None,
        created_before: int | None,
        limit: int | None,
    ) -> builtins.list[StoredCompletion]:
        """The project's rows matching the filters, oldest first; ``created_after`` /
        ``created_before`` inclusive (Unix seconds); ``limit`` keeps the most recent."""
        with self._sessions() as session:
            return select_logged(
                session,
                StoredCompletion,
                _filtered(project_id, model, metadata),
                created_after=created_after,
                created_before=created_before,
                limit=limit,
            )


def select_logged(
    session: Session,
    table: Any,
    stmt: Select[Any],
    *,
    created_after: int | None,
    created_before: int | None,
    limit: int | None,
) -> builtins.list[Any]:
    """Rows of ``stmt`` (over ``table``: a logged request with ``created_at`` and ``seq``)
    in the time window, oldest first; ``limit`` keeps the most recent. Evals select stored
    completions and stored responses this one way."""
    if created_after is not None:
        stmt = stmt.where(table.created_at >= created_after)
    if created_before is not None:
        stmt = stmt.where(table.created_at <= created_before)
    stmt = stmt.order_by(table.seq.desc())
    if limit is not None:
        stmt = stmt.limit(limit)
    rows = list(session.scalars(stmt))
    rows.reverse()
    return rows


class json_pairs(GenericFunction[Any]):
    """A JSON object's ``(key, value)`` rows, string values as text: SQLite's
    ``json_each``; PostgreSQL's ``json_each`` would give ``json`` values, so there
    ``json_each_text``."""

    name = "json_pairs"
    inherit_cache = True


@compiles(json_pairs)
def _json_each(element: json_pairs, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_each({compiler.process(element.clauses, **kw)})"


@compiles(json_pairs, "postgresql")
def _json_each_text(element: json_pairs, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_each_text({compiler.process(element.clauses, **kw)})"


def logged_filter(
    table: Any, project_id: str, model: str | None, metadata: dict[str, str] | None
) -> Select[Any]:
    """``select(table)`` of the project's rows of ``model`` carrying every ``metadata``
    pair (``table`` has ``project_id``, ``model`` and a JSON ``metadata``)."""
    stmt = select(table).where(table.project_id == project_id)
    if model is not None:
        stmt = stmt.where(table.model == model)
    # pairs compared through json_each, not JSON paths: any key a user can store (quotes,
    # backslashes, dots, NUL, any script) matches as itself
    for i, (key, value) in enumerate((metadata or {}).items()):
        pairs = json_pairs(table.metadata_).table_valued("key", "value", name=f"metadata_{i}")
        stmt = stmt.where(exists().where(pairs.c.key == key, pairs.c.value == value))
    return stmt


def _filtered(
    project_id: str, model: str | None, metadata: dict[str, str] | None
) -> Select[StoredCompletion]:
    return logged_filter(StoredCompletion, project_id, model, metadata)


def _get(session: Session, project_id: str, completion_id: str) -> StoredCompletion | None:
    row = session.get(StoredCompletion, completion_id)
    return row if row is not None and row.project_id == project_id else None
