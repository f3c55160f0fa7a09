"""Rows of fine-tuning jobs, their events and checkpoints (no web framework).

Every read a client triggers is scoped to a project: another project's job is
indistinguishable from a missing one. Rows come back detached and readable
(``expire_on_commit=False``, then expunged). The runner's final writes go through
``release``, which only succeeds while this process holds the job's lease.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from hearth.domain import Page, PageParams
from hearth.store import leases
from hearth.store.ids import new_id
from hearth.store.models import (
    FineTuningCheckpoint,
    FineTuningEvent,
    FineTuningJob,
    Organization,
    next_seq,
    now_unix,
)
from hearth.store.pages import paginate

JOB_PREFIX = "ftjob-"
EVENT_PREFIX = "ftevent-"
CHECKPOINT_PREFIX = "ftckpt-"


class FineTuningStore:
    """Persistence for ``fine_tuning_jobs`` / ``_events`` / ``_checkpoints``."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        """Also the background runner's (``hearth.jobs.JobRunner``) for its leases."""

    # --- jobs ---------------------------------------------------------------------------

    def insert_job(self, *, events: Sequence[str] = (), **values: Any) -> FineTuningJob:
        """A new job row (``id`` assigned unless given, ``seq`` assigned) with one event
        per message of ``events``."""
        job = FineTuningJob(
            id=values.pop("id", None) or new_id(JOB_PREFIX), seq=next_seq(), **values
        )
        with self.sessions.begin() as session:
            session.add(job)
            session.flush()
            for message in events:
                session.add(_event(job.id, message))
            session.flush()
            session.expunge(job)
        return job

    def job(self, project_id: str | None, job_id: str) -> FineTuningJob | None:
        """The job, if it exists in ``project_id`` (None: any project)."""
        with self.sessions() as session:
            job = session.get(FineTuningJob, job_id)
            if job is None or (project_id is not None and job.project_id != project_id):
                return None
            session.expunge(job)
            return job

    def jobs(
        self, project_id: str, page: PageParams, metadata: dict[str, str] | None
    ) -> Page[FineTuningJob]:
        """One page of the project's jobs, only those whose metadata has every pair of
        ``metadata`` when given. ``InvalidRequest`` for a cursor that is not one of them."""
        stmt = select(FineTuningJob).where(FineTuningJob.project_id == project_id)
        with self.sessions() as session:
            if metadata:
                # metadata is small JSON; filter in Python over this project's jobs
                ids = [
                    j.id
                    for j in session.scalars(stmt)
                    if all((j.metadata_ or {}).get(k) == v for k, v in metadata.items())
                ]
                stmt = stmt.where(FineTuningJob.id.in_(ids))
            result = paginate(session, stmt, FineTuningJob, page)
            session.expunge_all()
            return result

    def update_job(
        self,
        job_id: str,
        *,
        where_status: tuple[str, ...] | None = None,
        events: Sequence[str] = (),
        **values: Any,
    ) -> bool:
        """Set ``values`` (only if the job's status is in ``where_status``, when given)
        and add ``events`` in the same transaction; whether the row changed."""
        with self.sessions.begin() as session:
            stmt = update(FineTuningJob).where(FineTuningJob.id == job_id)
            if where_status is not None:
                stmt = stmt.where(FineTuningJob.status.in_(where_status))
            changed = session.execute(stmt.values(**values)).rowcount == 1  # type: ignore[attr-defined]
            if changed:
                for message in events:
                    session.add(_event(job_id, message))
            return bool(changed)

    def release(
        self, job_id: str, *, events: Sequence[str] = (), level: str = "info", **values: Any
    ) -> bool:
        """Drop this process's lease on the job, setting ``values`` and adding ``events``
        (at ``level``) in the same transaction; False (nothing written) if the lease was
        lost."""
        with self.sessions.begin() as session:
            done = session.execute(
                update(FineTuningJob)
                .where(FineTuningJob.id == job_id)
                .where(FineTuningJob.lease_owner == leases.OWNER)
                .values(lease_owner=None, lease_expires_at=None, **values)
            )
            if done.rowcount != 1:  # type: ignore[attr-defined]
                return False
            for message in events:
                session.add(_event(job_id, message, level=level))
            return True

    def organization_name(self, organization_id: str) -> str | None:
        """The organization's name (it goes into fine-tuned model ids); None if unknown."""
        with self.sessions() as session:
            org = session.get(Organization, organization_id)
            return org.name if org else None

    # --- events -------------------------------------------------------------------------

    def add_event(
        self,
        job_id: str,
        message: str,
        *,
        type_: str = "message",
        data: dict[str, Any] | None = None,
        level: str = "info",
    ) -> None:
        """Append one event."""
        with self.sessions.begin() as session:
            session.add(_event(job_id, message, type_=type_, data=data, level=level))

    def events(self, job_id: str, page: PageParams) -> Page[FineTuningEvent]:
        """One page of a job's events. ``InvalidRequest`` for a cursor that is not one."""
        with self.sessions() as session:
            result = paginate(
                session,
                select(FineTuningEvent).where(FineTuningEvent.job_id == job_id),
                FineTuningEvent,
                page,
            )
            session.expunge_all()
            return result

    def metrics(self, job_id: str) -> list[dict[str, Any]]:
        """The ``data`` of a job's ``metrics`` events, oldest first."""
        with self.sessions() as session:
            return [
                data
                for data in session.scalars(
                    select(FineTuningEvent.data)
                    .where(FineTuningEvent.job_id == job_id, FineTuningEvent.type == "metrics")
                    .order_by(FineTuningEvent.seq)
                )
                if data
            ]

    # --- checkpoints --------------------------------------------------------------------

    def add_checkpoint(
        self,
        job_id: str,
        model_id: str,
        step: int,
        metrics: dict[str, Any],
        model_path: str,
        message: str,
    ) -> None:
        """Record a checkpoint whose model file is already completely written, with the
        event ``message``."""
        with self.sessions.begin() as session:
            session.add(
                FineTuningCheckpoint(
                    id=new_id(CHECKPOINT_PREFIX),
                    job_id=job_id,
                    fine_tuned_model_checkpoint=model_id,
                    step_number=step,
                    metrics=metrics,
                    model_path=model_path,
                    seq=next_seq(),
                )
            )
            session.add(_event(job_id, message))

    def checkpoints(self, job_id: str, page: PageParams) -> Page[FineTuningCheckpoint]:
        """One page of a job's checkpoints. ``InvalidRequest`` for a cursor that is not
        one."""
        with self.sessions() as session:
            result = paginate(
                session,
                select(FineTuningCheckpoint).where(FineTuningCheckpoint.job_id == job_id),
                FineTuningCheckpoint,
                page,
            )
            session.expunge_all()
            return result

    def checkpoint_steps(self, job_id: str) -> set[int]:
        """Steps of the checkpoints already recorded (a resumed worker skips them)."""
        with self.sessions() as session:
            return set(
                session.scalars(
                    select(FineTuningCheckpoint.step_number).where(
                        FineTuningCheckpoint.job_id == job_id
                    )
                )
            )

    # --- models (the engine's catalog) --------------------------------------------------

    def find_model(self, model_id: str) -> tuple[FineTuningJob, str] | None:
        """The job owning ``model_id`` (its final model or a checkpoint) and the model
        file (relative to the data dir); None if no such servable model."""
        with self.sessions() as session:
            job = session.scalar(
                select(FineTuningJob).where(FineTuningJob.fine_tuned_model == model_id)
            )
            if job is not None and job.model_path:
                session.expunge(job)
                return job, job.model_path
            ckpt = session.scalar(
                select(FineTuningCheckpoint).where(
                    FineTuningCheckpoint.fine_tuned_model_checkpoint == model_id
                )
            )
            if ckpt is None:
                return None
            owner = session.get(FineTuningJob, ckpt.job_id)
            if owner is None:
                return None
            session.expunge(owner)
            return owner, ckpt.model_path

    def models(self, organization_id: str) -> list[FineTuningJob]:
        """Succeeded jobs of ``organization_id`` whose model is servable, oldest first."""
        with self.sessions() as session:
            jobs = list(
                session.scalars(
                    select(FineTuningJob)
                    .where(
                        FineTuningJob.organization_id == organization_id,
                        FineTuningJob.status == "succeeded",
                        FineTuningJob.model_path.is_not(None),
                    )
                    .order_by(FineTuningJob.seq)
                )
            )
            session.expunge_all()
            return jobs


def _event(
    job_id: str,
    message: str,
    *,
    type_: str = "message",
    data: dict[str, Any] | None = None,
    level: str = "info",
) -> FineTuningEvent:
    return FineTuningEvent(
        id=new_id(EVENT_PREFIX),
        job_id=job_id,
        level=level,
        message=message,
        type=type_,
        data=data,
        created_at=now_unix(),
        seq=next_seq(),
    )
