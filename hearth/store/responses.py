"""The ``responses``, ``conversations`` and ``conversation_items`` tables.

Every query is scoped to one project, so another project's id reads as missing (and is
refused as a cursor). A response's final state and the items it appends to its
conversation are written in one transaction: a response is never half-written.
"""

from __future__ import annotations

import builtins
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from hearth.domain import Page, PageParams
from hearth.errors import InvalidRequest
from hearth.store import leases
from hearth.store.models import Conversation, ConversationItem, StoredResponse, next_seq
from hearth.store.pages import paginate
from hearth.store.stored_completions import logged_filter, select_logged

MAX_CHAIN = 10_000
"""``previous_response_id`` hops followed before a chain is refused as a cycle."""


class ResponseRepository:
    """Stored responses (with background leases) and conversations with their items."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    # --- responses ---------------------------------------------------------------------

    def insert(
        self,
        project_id: str,
        organization_id: str,
        *,
        request: dict[str, Any],
        input_items: builtins.list[dict[str, Any]],
        response: dict[str, Any],
        conversation_items: builtins.list[dict[str, Any]] = (),  # type: ignore[assignment]
    ) -> None:
        """A new row for ``response`` (a ``Response`` as JSON: its ``id``, ``model``,
        ``status``, ``background``, ``previous_response_id``, ``conversation`` and
        ``created_at`` become the row's), and ``conversation_items`` appended to its
        conversation, in one transaction."""
        conversation = response.get("conversation") or {}
        row = StoredResponse(
            id=response["id"],
            project_id=project_id,
            organization_id=organization_id,
            model=response["model"],
            status=response["status"],
            background=bool(response.get("background")),
            previous_response_id=response.get("previous_response_id"),
            conversation_id=conversation.get("id"),
            request=request,
            input_items=input_items,
            response=response,
            metadata_=response.get("metadata"),
            created_at=int(response["created_at"]),
            seq=next_seq(),
        )
        with self.sessions.begin() as session:
            session.add(row)
            if conversation_items:
                _append(session, conversation["id"], conversation_items)

    def page(
        self,
        project_id: str,
        page: PageParams,
        *,
        model: str | None,
        metadata: dict[str, str] | None,
    ) -> Page[StoredResponse]:
        """One page of the project's stored responses in creation order (every status),
        only those of ``model`` carrying every ``metadata`` pair. ``InvalidRequest`` for a
        cursor that is not one of them."""
        with self.sessions() as session:
            stmt = logged_filter(StoredResponse, project_id, model, metadata)
            return paginate(session, stmt, StoredResponse, page)

    def get(self, project_id: str, response_id: str) -> StoredResponse | None:
        """The project's response ``response_id``; None if there is none."""
        with self.sessions() as session:
            return _response(session, project_id, response_id)

    def by_id(self, response_id: str) -> StoredResponse | None:
        """Any project's response (the background runner's view)."""
        with self.sessions() as session:
            return session.get(StoredResponse, response_id)

    def chain(self, project_id: str, response_id: str) -> builtins.list[StoredResponse] | None:
        """``response_id`` and every response before it (``previous_response_id``),
        oldest first; None when the first is not the project's. A missing earlier link
        (deleted) ends the chain there."""
        out: builtins.list[StoredResponse] = []
        with self.sessions() as session:
            current: str | None = response_id
            while current is not None:
                row = _response(session, project_id, current)
                if row is None:
                    if not out:
                        return None
                    break
                out.append(row)
                if len(out) > MAX_CHAIN:
                    raise InvalidRequest(
                        "The previous_response_id chain is too long.",
                        param="previous_response_id",
                    )
                current = row.previous_response_id
        return out[::-1]

    def write(
        self,
        response_id: str,
        response: dict[str, Any],
        *,
        owner: str | None = None,
        only_if: tuple[str, ...] = (),
        conversation_items: builtins.list[dict[str, Any]] = (),  # type: ignore[assignment]
        release: bool = False,
    ) -> bool:
        """Replace the row's ``Response`` (and status) and append ``conversation_items``
        to its conversation, in one transaction. ``owner``: only while that process holds
        the lease; ``only_if``: only from one of these statuses; ``release``: drop the
        lease. False (nothing written) when a condition fails or the row is gone."""
        values: dict[str, Any] = {
            "response": response,
            "status": response["status"],
            "metadata_": response.get("metadata"),
        }
        stmt = leases.guarded_update(
            StoredResponse, response_id, values, owner=owner, only_if=only_if, release=release
        )
        with self.sessions.begin() as session:
            done = session.execute(stmt)
            if done.rowcount != 1:  # type: ignore[attr-defined]
                return False
            conversation_id = session.scalar(
                select(StoredResponse.conversation_id).where(StoredResponse.id == response_id)
            )
            if conversation_items and conversation_id:
                _append(session, conversation_id, conversation_items)
        return True

    def select(
        self,
        project_id: str,
        *,
        metadata: dict[str, str] | None,
        model: str | None,
        created_after: int | None,
        created_before: int | None,
        limit: int | None,
    ) -> builtins.list[StoredResponse]:
        """The project's ``completed`` responses matching the filters, oldest first (the
        evals' ``stored_completions`` source, as ``StoredCompletionRepository.select``)."""
        stmt = logged_filter(StoredResponse, project_id, model, metadata).where(
            StoredResponse.status == "completed"
        )
        with self.sessions() as session:
            return select_logged(
                session,
                StoredResponse,
                stmt,
                created_after=created_after,
                created_before=created_before,
                limit=limit,
            )

    def delete(self, project_id: str, response_id: str) -> bool:
        """Delete the project's response; False if there was none."""
        with self.sessions.begin() as session:
            row = _response(session, project_id, response_id)
            if row is not None:
                session.delete(row)
        return row is not None

    def release(self, response_id: str, owner: str) -> None:
        """Drop ``owner``'s lease on the row."""
        leases.release(self.sessions, StoredResponse, response_id, owner)

    # --- conversations -----------------------------------------------------------------

    def create_conversation(
        self,
        project_id: str,
        conversation_id: str,
        metadata: dict[str, str] | None,
        items: builtins.list[dict[str, Any]],
        created_at: int,
    ) -> Conversation:
        """A new conversation holding ``items`` (each with its ``id``)."""
        row = Conversation(
            id=conversation_id,
            project_id=project_id,
            metadata_=metadata,
            created_at=created_at,
            seq=next_seq(),
        )
        with self.sessions.begin() as session:
            session.add(row)
            session.flush()
            _append(session, conversation_id, items)
        return row

    def conversation(self, project_id: str, conversation_id: str) -> Conversation | None:
        """The project's conversation; None if there is none."""
        with self.sessions() as session:
            return _conversation(session, project_id, conversation_id)

    def update_conversation(
        self, project_id: str, conversation_id: str, metadata: dict[str, str] | None
    ) -> Conversation | None:
        """Replace the metadata; the updated row, or None."""
        with self.sessions.begin() as session:
            row = _conversation(session, project_id, conversation_id)
            if row is not None:
                row.metadata_ = metadata
        return row

    def delete_conversation(self, project_id: str, conversation_id: str) -> bool:
        """Delete the conversation and its items (responses stay); False if none."""
        with self.sessions.begin() as session:
            row = _conversation(session, project_id, conversation_id)
            if row is None:
                return False
            session.execute(
                delete(ConversationItem).where(ConversationItem.conversation_id == conversation_id)
            )
            session.delete(row)
        return True

    def append(
        self, project_id: str, conversation_id: str, items: builtins.list[dict[str, Any]]
    ) -> bool:
        """Append ``items``; False when the project has no such conversation."""
        with self.sessions.begin() as session:
            if _conversation(session, project_id, conversation_id) is None:
                return False
            _append(session, conversation_id, items)
        return True

    def items(self, project_id: str, conversation_id: str) -> builtins.list[dict[str, Any]] | None:
        """Every item of the conversation, oldest first; None if there is none."""
        with self.sessions() as session:
            if _conversation(session, project_id, conversation_id) is None:
                return None
            return [
                r.item
                for r in session.scalars(
                    select(ConversationItem)
                    .where(ConversationItem.conversation_id == conversation_id)
                    .order_by(ConversationItem.seq)
                )
            ]

    def item_ids(self, conversation_id: str) -> set[str]:
        """The ids already used in the conversation."""
        with self.sessions() as session:
            return set(
                session.scalars(
                    select(ConversationItem.item_id).where(
                        ConversationItem.conversation_id == conversation_id
                    )
                )
            )

    def page_items(
        self, project_id: str, conversation_id: str, page: PageParams
    ) -> Page[ConversationItem] | None:
        """One page of the conversation's items; None if there is no conversation.
        ``InvalidRequest`` for a cursor naming no item of it."""
        with self.sessions() as session:
            if _conversation(session, project_id, conversation_id) is None:
                return None
            stmt = select(ConversationItem).where(
                ConversationItem.conversation_id == conversation_id
            )
            return paginate(session, stmt, ConversationItem, page, key=ConversationItem.item_id)

    def item(self, project_id: str, conversation_id: str, item_id: str) -> dict[str, Any] | None:
        """One item; None when the conversation or the item is not there."""
        with self.sessions() as session:
            if _conversation(session, project_id, conversation_id) is None:
                return None
            row = _item(session, conversation_id, item_id)
            return None if row is None else row.item

    def delete_item(self, project_id: str, conversation_id: str, item_id: str) -> bool:
        """Delete one item; False when the conversation or the item is not there."""
        with self.sessions.begin() as session:
            if _conversation(session, project_id, conversation_id) is None:
                return False
            row = _item(session, conversation_id, item_id)
            if row is None:
                return False
            session.delete(row)
        return True

    def count_items(self, conversation_id: str) -> int:
        """How many items the conversation holds."""
        with self.sessions() as session:
            return int(
                session.scalar(
                    select(func.count())
                    .select_from(ConversationItem)
                    .where(ConversationItem.conversation_id == conversation_id)
                )
                or 0
            )


def _response(session: Session, project_id: str, response_id: str) -> StoredResponse | None:
    row = session.get(StoredResponse, response_id)
    return row if row is not None and row.project_id == project_id else None


def _conversation(session: Session, project_id: str, conversation_id: str) -> Conversation | None:
    row = session.get(Conversation, conversation_id)
    return row if row is not None and row.project_id == project_id else None


def _item(session: Session, conversation_id: str, item_id: str) -> ConversationItem | None:
    return session.scalar(
        select(ConversationItem).where(
            ConversationItem.conversation_id == conversation_id,
            ConversationItem.item_id == item_id,
        )
    )


def _append(session: Session, conversation_id: str, items: builtins.list[dict[str, Any]]) -> None:
    """Add ``items`` after the conversation's last; one it already holds (a referenced or
    re-sent item) is not added twice."""
    held = set(
        session.scalars(
            select(ConversationItem.item_id).where(
                ConversationItem.conversation_id == conversation_id
            )
        )
    )
    for item in items:
        if item["id"] in held:
            continue
        held.add(item["id"])
        session.add(
            ConversationItem(
                conversation_id=conversation_id,
                item_id=item["id"],
                item=item,
                seq=next_seq(),
            )
        )
