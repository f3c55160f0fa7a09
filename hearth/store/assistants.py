"""The Assistants tables without runs: assistants, threads and thread messages (runs and
their steps: ``store/runs.py``).

Every row holds its API object as JSON (``object``), written whole by the service. Every
read is scoped to one project, so another project's id reads as missing. A thread's
messages, runs and run steps go with it (``ON DELETE CASCADE``; SQLite enforces it
because every connection turns ``foreign_keys`` on).
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from hearth.domain import Page, PageParams
from hearth.store.models import Assistant, Thread, ThreadMessage, next_seq
from hearth.store.pages import paginate


class AssistantRepository:
    """Rows of ``client.beta.assistants``."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def insert(
        self, project_id: str, assistant: dict[str, Any], gpt: dict[str, Any] | None = None
    ) -> Assistant:
        """A new row for ``assistant`` (an ``Assistant`` as JSON, ``id`` and
        ``created_at`` set) and its GPT actions' configuration (``gpt``, never shown)."""
        row = Assistant(
            id=assistant["id"],
            project_id=project_id,
            object=assistant,
            gpt=gpt,
            created_at=assistant["created_at"],
            seq=next_seq(),
        )
        with self._sessions.begin() as session:
            session.add(row)
        return row

    def get(self, project_id: str, assistant_id: str) -> Assistant | None:
        """The project's assistant, or None."""
        with self._sessions() as session:
            return session.scalar(
                select(Assistant).where(
                    Assistant.id == assistant_id, Assistant.project_id == project_id
                )
            )

    def page(self, project_id: str, page: PageParams) -> Page[Assistant]:
        """One page of the project's assistants."""
        with self._sessions() as session:
            stmt = select(Assistant).where(Assistant.project_id == project_id)
            return paginate(session, stmt, Assistant, page)

    def update(
        self,
        project_id: str,
        assistant_id: str,
        assistant: dict[str, Any],
        gpt: dict[str, Any] | None,
    ) -> bool:
        """Replace the project's assistant's object and GPT configuration; whether it
        existed."""
        with self._sessions.begin() as session:
            done = session.execute(
                update(Assistant)
                .where(Assistant.id == assistant_id, Assistant.project_id == project_id)
                .values(object=assistant, gpt=gpt)
            )
            return bool(done.rowcount == 1)  # type: ignore[attr-defined]

    def delete(self, project_id: str, assistant_id: str) -> bool:
        """Delete the project's assistant; whether it existed."""
        with self._sessions.begin() as session:
            done = session.execute(
                delete(Assistant).where(
                    Assistant.id == assistant_id, Assistant.project_id == project_id
                )
            )
            return bool(done.rowcount == 1)  # type: ignore[attr-defined]


class ThreadRepository:
    """Rows of ``client.beta.threads`` and their messages."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    # threads

    def insert(
        self, project_id: str, thread: dict[str, Any], messages: Sequence[dict[str, Any]] = ()
    ) -> Thread:
        """A new row for ``thread`` (a ``Thread`` as JSON) with its first ``messages``
        (``Message`` objects, oldest first), in one transaction."""
        row = Thread(
            id=thread["id"],
            project_id=project_id,
            object=thread,
            created_at=thread["created_at"],
            seq=next_seq(),
        )
        with self._sessions.begin() as session:
            session.add(row)
            session.flush()  # the thread before its messages (foreign key)
            for message in messages:
                session.add(_message_row(project_id, message))
        return row

    def get(self, project_id: str, thread_id: str) -> Thread | None:
        """The project's thread, or None."""
        with self._sessions() as session:
            return _thread(session, project_id, thread_id)

    def update(self, project_id: str, thread_id: str, thread: dict[str, Any]) -> bool:
        """Replace the project's thread's object; whether it existed."""
        with self._sessions.begin() as session:
            done = session.execute(
                update(Thread)
                .where(Thread.id == thread_id, Thread.project_id == project_id)
                .values(object=thread)
            )
            return bool(done.rowcount == 1)  # type: ignore[attr-defined]

    def set_container(self, thread_id: str, container_id: str | None) -> None:
        """Record the code interpreter container the thread's runs use."""
        with self._sessions.begin() as session:
            session.execute(
                update(Thread).where(Thread.id == thread_id).values(container_id=container_id)
            )

    def delete(self, project_id: str, thread_id: str) -> bool:
        """Delete the project's thread with its messages, runs and run steps (cascade);
        whether it existed."""
        with self._sessions.begin() as session:
            done = session.execute(
                delete(Thread).where(Thread.id == thread_id, Thread.project_id == project_id)
            )
            return bool(done.rowcount == 1)  # type: ignore[attr-defined]

    # messages

    def insert_message(self, project_id: str, thread_id: str, message: dict[str, Any]) -> bool:
        """Append ``message`` (a ``Message`` as JSON) to the project's thread; False
        (nothing written) when the project has no such thread."""
        with self._sessions.begin() as session:
            if _thread(session, project_id, thread_id) is None:
                return False
            session.add(_message_row(project_id, message))
        return True

    def get_message(self, project_id: str, thread_id: str, message_id: str) -> ThreadMessage | None:
        """The message of the project's thread, or None."""
        with self._sessions() as session:
            return session.scalar(
                select(ThreadMessage).where(
                    ThreadMessage.id == message_id,
                    ThreadMessage.thread_id == thread_id,
                    ThreadMessage.project_id == project_id,
                )
            )

    def page_messages(
        self, project_id: str, thread_id: str, page: PageParams, *, run_id: str | None = None
    ) -> Page[ThreadMessage] | None:
        """One page of the thread's messages, only those ``run_id`` created when given;
        None when the project has no such thread."""
        with self._sessions() as session:
            if _thread(session, project_id, thread_id) is None:
                return None
            stmt = select(ThreadMessage).where(
                ThreadMessage.thread_id == thread_id, ThreadMessage.project_id == project_id
            )
            if run_id is not None:
                stmt = stmt.where(ThreadMessage.run_id == run_id)
            return paginate(session, stmt, ThreadMessage, page)

    def messages(self, project_id: str, thread_id: str) -> builtins.list[ThreadMessage]:
        """Every message of the thread, oldest first."""
        with self._sessions() as session:
            return list(
                session.scalars(
                    select(ThreadMessage)
                    .where(
                        ThreadMessage.thread_id == thread_id,
                        ThreadMessage.project_id == project_id,
                    )
                    .order_by(ThreadMessage.seq)
                )
            )

    def update_message(self, project_id: str, thread_id: str, message: dict[str, Any]) -> bool:
        """Replace the object of the thread's message ``message["id"]``; whether it
        existed."""
        with self._sessions.begin() as session:
            done = session.execute(
                update(ThreadMessage)
                .where(
                    ThreadMessage.id == message["id"],
                    ThreadMessage.thread_id == thread_id,
                    ThreadMessage.project_id == project_id,
                )
                .values(object=message, run_id=message.get("run_id"))
            )
            return bool(done.rowcount == 1)  # type: ignore[attr-defined]

    def delete_message(self, project_id: str, thread_id: str, message_id: str) -> bool:
        """Delete the thread's message; whether it existed."""
        with self._sessions.begin() as session:
            done = session.execute(
                delete(ThreadMessage).where(
                    ThreadMessage.id == message_id,
                    ThreadMessage.thread_id == thread_id,
                    ThreadMessage.project_id == project_id,
                )
            )
            return bool(done.rowcount == 1)  # type: ignore[attr-defined]


def _thread(session: Session, project_id: str, thread_id: str) -> Thread | None:
    return session.scalar(
        select(Thread).where(Thread.id == thread_id, Thread.project_id == project_id)
    )


def _message_row(project_id: str, message: dict[str, Any]) -> ThreadMessage:
    return ThreadMessage(
        id=message["id"],
        thread_id=message["thread_id"],
        project_id=project_id,
        run_id=message.get("run_id"),
        object=message,
        created_at=message["created_at"],
        seq=next_seq(),
    )
