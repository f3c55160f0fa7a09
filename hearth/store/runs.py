"""The ``runs`` and ``run_steps`` tables (Assistants API runs: leased background work).

Every read is scoped to one project and thread, so another project's run reads as
missing. A run's state is written with compare-and-set updates (``only_if`` statuses,
``owner`` of the lease), so a cancel racing the runner never loses to a stale write.
"""

from __future__ import annotations

import builtins
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from hearth.domain import Page, PageParams
from hearth.store import leases
from hearth.store.models import Run, RunStep, next_seq
from hearth.store.pages import paginate

ACTIVE = ("queued", "in_progress", "requires_action", "cancelling")
"""Statuses of a run that holds its thread (one at a time, as OpenAI)."""


class RunRepository:
    """Runs (with leases) and their steps."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def insert(
        self,
        project_id: str,
        organization_id: str,
        run: dict[str, Any],
        request: dict[str, Any],
    ) -> bool:
        """A new ``queued`` row for ``run`` (a ``Run`` as JSON); False (nothing written)
        when the thread already has an active run."""
        with self.sessions.begin() as session:
            busy = session.scalar(
                select(Run.id).where(Run.thread_id == run["thread_id"], Run.status.in_(ACTIVE))
            )
            if busy is not None:
                return False
            session.add(
                Run(
                    id=run["id"],
                    thread_id=run["thread_id"],
                    project_id=project_id,
                    organization_id=organization_id,
                    assistant_id=run["assistant_id"],
                    status=run["status"],
                    object=run,
                    request=request,
                    items=[],
                    created_at=run["created_at"],
                    seq=next_seq(),
                )
            )
        return True

    def get(self, project_id: str, thread_id: str, run_id: str) -> Run | None:
        """The project's run ``run_id`` of ``thread_id``; None if there is none."""
        with self.sessions() as session:
            return session.scalar(
                select(Run).where(
                    Run.id == run_id, Run.thread_id == thread_id, Run.project_id == project_id
                )
            )

    def by_id(self, run_id: str) -> Run | None:
        """Any project's run (the runner's view)."""
        with self.sessions() as session:
            return session.get(Run, run_id)

    def page(self, project_id: str, thread_id: str, page: PageParams) -> Page[Run]:
        """A page of the thread's runs."""
        with self.sessions() as session:
            query = select(Run).where(Run.thread_id == thread_id, Run.project_id == project_id)
            return paginate(session, query, Run, page)

    def write(
        self,
        run_id: str,
        run: dict[str, Any],
        *,
        items: builtins.list[dict[str, Any]] | None = None,
        owner: str | None = None,
        only_if: tuple[str, ...] = (),
        release: bool = False,
    ) -> bool:
        """Replace the run's object (and status; ``items``: the items its next segment
        continues from). ``owner``: only while that process holds the lease; ``only_if``:
        only from one of these statuses; ``release``: drop the lease. False when a
        condition fails."""
        values: dict[str, Any] = {"object": run, "status": run["status"]}
        if items is not None:
            values["items"] = items
        stmt = leases.guarded_update(
            Run, run_id, values, owner=owner, only_if=only_if, release=release
        )
        with self.sessions.begin() as session:
            done = session.execute(stmt)
            return bool(done.rowcount == 1)  # type: ignore[attr-defined]

    # --- steps ---------------------------------------------------------------------------

    def put_step(self, project_id: str, step: dict[str, Any]) -> None:
        """Insert or replace ``step`` (a ``RunStep`` as JSON)."""
        with self.sessions.begin() as session:
            row = session.get(RunStep, step["id"])
            if row is None:
                session.add(
                    RunStep(
                        id=step["id"],
                        run_id=step["run_id"],
                        thread_id=step["thread_id"],
                        project_id=project_id,
                        object=step,
                        created_at=step["created_at"],
                        seq=next_seq(),
                    )
                )
            else:
                row.object = step

    def step(self, project_id: str, run_id: str, step_id: str) -> RunStep | None:
        """The project's step ``step_id`` of ``run_id``."""
        with self.sessions() as session:
            return session.scalar(
                select(RunStep).where(
                    RunStep.id == step_id,
                    RunStep.run_id == run_id,
                    RunStep.project_id == project_id,
                )
            )

    def steps(self, project_id: str, run_id: str, page: PageParams) -> Page[RunStep]:
        """A page of the run's steps."""
        with self.sessions() as session:
            query = select(RunStep).where(
                RunStep.run_id == run_id, RunStep.project_id == project_id
            )
            return paginate(session, query, RunStep, page)

    def unfinished_steps(self, run_id: str) -> builtins.list[RunStep]:
        """The run's steps still ``in_progress`` (left by an interrupted attempt)."""
        with self.sessions() as session:
            rows = session.scalars(select(RunStep).where(RunStep.run_id == run_id)).all()
            return [r for r in rows if r.object.get("status") == "in_progress"]

    def delete_steps(self, step_ids: builtins.list[str]) -> None:
        """Remove these steps."""
        if step_ids:
            with self.sessions.begin() as session:
                session.execute(delete(RunStep).where(RunStep.id.in_(step_ids)))
