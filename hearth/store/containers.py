"""The container tables: containers (scoped to a project) and the files in their
``/mnt/data`` (scoped through their container, which the caller checked).

A container's files are rows only; their bytes live in its sandbox, so expiring a
container (the sandbox is gone) removes its file rows in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from hearth.domain import Page, PageParams
from hearth.store.ids import new_id
from hearth.store.models import Container, ContainerFile, next_seq
from hearth.store.pages import paginate

SeenFile = tuple[str, int, float]
"""A file found in a sandbox: ``(path, bytes, modified)``."""


class ContainerRepository:
    """Rows of containers and their files."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    # containers

    def insert(self, project_id: str, **values: Any) -> Container:
        """A new ``running`` container ``cntr_<24 alnum>``."""
        row = Container(
            id=new_id("cntr_"), project_id=project_id, status="running", seq=next_seq(), **values
        )
        with self._sessions.begin() as session:
            session.add(row)
        return row

    def get(self, project_id: str, container_id: str) -> Container | None:
        """The project's container, or None."""
        with self._sessions() as session:
            return session.scalar(
                select(Container).where(
                    Container.id == container_id, Container.project_id == project_id
                )
            )

    def page(self, project_id: str, page: PageParams, *, name: str | None) -> Page[Container]:
        """One page of the project's containers, only those called ``name`` when given."""
        stmt: Select[Any] = select(Container).where(Container.project_id == project_id)
        if name is not None:
            stmt = stmt.where(Container.name == name)
        with self._sessions() as session:
            return paginate(session, stmt, Container, page)

    def touch(self, container_id: str, now: int) -> None:
        """Set ``last_active_at``."""
        with self._sessions.begin() as session:
            session.execute(
                update(Container).where(Container.id == container_id).values(last_active_at=now)
            )

    def delete(self, project_id: str, container_id: str) -> bool:
        """Delete the project's container with its file rows; whether it existed."""
        with self._sessions.begin() as session:
            exists = session.scalar(
                select(Container.id).where(
                    Container.id == container_id, Container.project_id == project_id
                )
            )
            if exists is None:
                return False
            session.execute(delete(ContainerFile).where(ContainerFile.container_id == container_id))
            session.execute(delete(Container).where(Container.id == container_id))
        return True

    def idle(self, now: int) -> list[tuple[str, str | None]]:
        """``(id, replica)`` of ``running`` containers whose ``expires_after_minutes``
        have passed since ``last_active_at`` at ``now`` (Unix s)."""
        deadline = Container.last_active_at + Container.expires_after_minutes * 60
        stmt = select(Container.id, Container.replica).where(
            Container.status == "running", deadline <= now
        )
        with self._sessions() as session:
            return [(r.id, r.replica) for r in session.execute(stmt)]

    def running(self) -> list[tuple[str, str | None]]:
        """``(id, replica)`` of every ``running`` container."""
        stmt = select(Container.id, Container.replica).where(Container.status == "running")
        with self._sessions() as session:
            return [(r.id, r.replica) for r in session.execute(stmt)]

    def expire(self, container_ids: Sequence[str]) -> None:
        """Mark the containers ``expired`` and remove their file rows."""
        if not container_ids:
            return
        with self._sessions.begin() as session:
            session.execute(
                update(Container).where(Container.id.in_(container_ids)).values(status="expired")
            )
            session.execute(
                delete(ContainerFile).where(ContainerFile.container_id.in_(container_ids))
            )

    # files

    def put_file(
        self, container_id: str, seen: SeenFile, *, source: str, now: int
    ) -> ContainerFile:
        """Record the file at ``seen``'s path: a new row, or the path's row with the new
        size, mtime and ``source`` (the file was replaced)."""
        path, size, modified = seen
        with self._sessions.begin() as session:
            row = session.scalar(
                select(ContainerFile).where(
                    ContainerFile.container_id == container_id, ContainerFile.path == path
                )
            )
            if row is None:
                row = ContainerFile(
                    id=new_id("cfile_"),
                    container_id=container_id,
                    path=path,
                    created_at=now,
                    seq=next_seq(),
                )
                session.add(row)
            row.bytes = size
            row.modified = modified
            row.source = source
        return row

    def get_file(self, container_id: str, file_id: str) -> ContainerFile | None:
        """The container's file, or None."""
        with self._sessions() as session:
            return session.scalar(
                select(ContainerFile).where(
                    ContainerFile.id == file_id, ContainerFile.container_id == container_id
                )
            )

    def page_files(self, container_id: str, page: PageParams) -> Page[ContainerFile]:
        """One page of the container's files."""
        stmt = select(ContainerFile).where(ContainerFile.container_id == container_id)
        with self._sessions() as session:
            return paginate(session, stmt, ContainerFile, page)

    def delete_file(self, container_id: str, file_id: str) -> ContainerFile | None:
        """Delete the container's file row; the deleted row, or None."""
        with self._sessions.begin() as session:
            row = session.scalar(
                select(ContainerFile).where(
                    ContainerFile.id == file_id, ContainerFile.container_id == container_id
                )
            )
            if row is not None:
                session.delete(row)
        return row

    def sync_files(
        self, container_id: str, seen: Sequence[SeenFile], *, now: int
    ) -> list[ContainerFile]:
        """Make the container's rows match the files ``seen`` in its sandbox: new paths
        become ``assistant`` files, changed ones (size or mtime) get their new size,
        vanished ones are removed. The new and changed rows, in path order."""
        changed: list[ContainerFile] = []
        with self._sessions.begin() as session:
            rows = {
                r.path: r
                for r in session.scalars(
                    select(ContainerFile).where(ContainerFile.container_id == container_id)
                )
            }
            for path, size, modified in sorted(seen):
                row = rows.pop(path, None)
                if row is None:
                    row = ContainerFile(
                        id=new_id("cfile_"),
                        container_id=container_id,
                        path=path,
                        bytes=size,
                        source="assistant",
                        modified=modified,
                        created_at=now,
                        seq=next_seq(),
                    )
                    session.add(row)
                elif row.bytes != size or row.modified != modified:
                    row.bytes = size
                    row.modified = modified
                else:
                    continue
                changed.append(row)
            for gone in rows.values():
                session.delete(gone)
        return changed
