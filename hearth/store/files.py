"""The ``files`` table (``client.files`` metadata; the bytes are in ``BlobStore``).

Every query is scoped to a project. "Live" means not past ``expires_at`` at ``now`` (Unix
seconds, given by the caller so that expiry has one clock).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session, sessionmaker

from hearth.domain import Page, PageParams
from hearth.store.ids import new_id
from hearth.store.models import StoredFile, next_seq
from hearth.store.pages import paginate


def _live(now: int) -> Any:
    return or_(StoredFile.expires_at.is_(None), StoredFile.expires_at > now)


class FileRepository:
    """Insert, page, get, delete and sweep ``StoredFile`` rows."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def insert(
        self,
        project_id: str,
        *,
        filename: str,
        purpose: str,
        blob_key: str,
        size: int,
        created_at: int,
        expires_at: int | None,
    ) -> StoredFile:
        """A new row (id ``file-<24 alnum>``, status ``processed``) naming ``blob_key``."""
        row = StoredFile(
            id=new_id("file-"),
            project_id=project_id,
            filename=filename,
            purpose=purpose,
            bytes=size,
            blob_key=blob_key,
            status="processed",
            status_details=None,
            created_at=created_at,
            expires_at=expires_at,
            seq=next_seq(),
        )
        with self._sessions.begin() as session:
            session.add(row)
        return row

    def page(
        self, project_id: str, page: PageParams, *, purpose: str | None, now: int
    ) -> Page[StoredFile]:
        """One page of the project's live files, ``purpose`` matched exactly when given.
        ``InvalidRequest`` for a cursor that is not one of them."""
        stmt = select(StoredFile).where(StoredFile.project_id == project_id, _live(now))
        if purpose is not None:
            stmt = stmt.where(StoredFile.purpose == purpose)
        with self._sessions() as session:
            return paginate(session, stmt, StoredFile, page)

    def get(self, project_id: str, file_id: str) -> StoredFile | None:
        """The project's row ``file_id``, expired or not; None if there is none."""
        with self._sessions() as session:
            return session.scalar(
                select(StoredFile).where(
                    StoredFile.id == file_id, StoredFile.project_id == project_id
                )
            )

    def delete(self, project_id: str, file_id: str, *, now: int) -> StoredFile | None:
        """Delete the project's live row ``file_id``; the deleted row (its ``blob_key`` is
        the caller's to remove), or None if there was none."""
        with self._sessions.begin() as session:
            row = session.scalar(
                select(StoredFile).where(
                    StoredFile.id == file_id, StoredFile.project_id == project_id, _live(now)
                )
            )
            if row is not None:
                session.delete(row)
        return row

    def sweep_expired(self, project_id: str, *, now: int, limit: int) -> list[str]:
        """Delete up to ``limit`` of the project's expired rows; their blob keys."""
        with self._sessions.begin() as session:
            rows = list(
                session.execute(
                    select(StoredFile.id, StoredFile.blob_key)
                    .where(StoredFile.project_id == project_id, StoredFile.expires_at <= now)
                    .limit(limit)
                )
            )
            if rows:
                session.execute(delete(StoredFile).where(StoredFile.id.in_([r.id for r in rows])))
        return [r.blob_key for r in rows]
