"""The ``usage_records`` table: one row per billable call, summed into time buckets for
``/v1/organization/usage/*`` and ``/v1/organization/costs``.

Every query is scoped to one organization. Buckets are ``width`` seconds wide from an
``origin`` (bucket ``i`` covers ``[origin + i·width, origin + (i+1)·width)``); a bucket
index is computed in SQL by integer division, the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from hearth.store.models import Project, UsageRecord, VectorStore, VectorStoreFile

UNIT_COLUMNS = (
    "input_tokens",
    "input_cached_tokens",
    "output_tokens",
    "input_audio_tokens",
    "output_audio_tokens",
    "characters",
    "seconds",
    "images",
    "sessions",
)
"""The summable columns of a record (besides the request count)."""

GROUP_COLUMNS = ("project_id", "api_key_id", "model", "batch", "kind")
"""The record columns a query may group by."""


@dataclass(frozen=True)
class UsageFilter:
    """Which records a query sums: one organization and ``kind`` (None: every kind), created in
    ``[start, end)`` (unix s), optionally only these projects, keys and models, and batch
    or not."""

    organization_id: str
    kind: str | None
    start: int
    end: int
    project_ids: Sequence[str] = ()
    api_key_ids: Sequence[str] = ()
    models: Sequence[str] = ()
    batch: bool | None = None


@dataclass(frozen=True)
class UsageRow:
    """One bucket's sums for one group: ``bucket`` (index from the origin), ``group``
    (``GROUP_COLUMNS`` name -> value, only those grouped by), ``requests`` (records) and
    ``units`` (``UNIT_COLUMNS`` name -> sum)."""

    bucket: int
    group: dict[str, Any]
    requests: int
    units: dict[str, int]


class UsageRepository:
    """Append records in batches; sum them per bucket and group."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def add(self, records: Sequence[dict[str, Any]]) -> None:
        """Insert ``records`` (``UsageRecord`` column -> value) in one transaction. Raises
        ``IntegrityError`` if one names an unknown project (then none is kept)."""
        if not records:
            return
        with self._sessions.begin() as session:
            session.execute(insert(UsageRecord), list(records))

    def sums(
        self, where: UsageFilter, origin: int, width: int, group_by: Sequence[str]
    ) -> list[UsageRow]:
        """The records ``where`` selects, summed per bucket (``width`` s from ``origin``)
        and per distinct value of the ``group_by`` columns (``GROUP_COLUMNS``), ordered
        by bucket."""
        bucket = ((UsageRecord.created_at - origin) // width).label("bucket")
        groups = [getattr(UsageRecord, name) for name in group_by]
        stmt = (
            select(
                bucket,
                *groups,
                func.count().label("requests"),
                *[func.sum(getattr(UsageRecord, c)).label(c) for c in UNIT_COLUMNS],
            )
            .where(
                UsageRecord.organization_id == where.organization_id,
                UsageRecord.created_at >= where.start,
                UsageRecord.created_at < where.end,
            )
            .group_by(bucket, *groups)
            .order_by(bucket)
        )
        if where.kind is not None:
            stmt = stmt.where(UsageRecord.kind == where.kind)
        if where.project_ids:
            stmt = stmt.where(UsageRecord.project_id.in_(where.project_ids))
        if where.api_key_ids:
            stmt = stmt.where(UsageRecord.api_key_id.in_(where.api_key_ids))
        if where.models:
            stmt = stmt.where(UsageRecord.model.in_(where.models))
        if where.batch is not None:
            stmt = stmt.where(UsageRecord.batch == where.batch)
        with self._sessions() as session:
            rows = session.execute(stmt).all()
        return [
            UsageRow(
                int(row.bucket),
                {name: getattr(row, name) for name in group_by},
                int(row.requests),
                {c: int(getattr(row, c) or 0) for c in UNIT_COLUMNS},
            )
            for row in rows
        ]

    def vector_store_bytes(
        self, organization_id: str, project_ids: Sequence[str], before: Sequence[int]
    ) -> list[dict[str, int]]:
        """For each time in ``before`` (unix s): project id -> bytes of the vector store
        files that exist now and were added before it, in the organization's projects
        (only ``project_ids`` when given)."""
        stmt = (
            select(VectorStore.project_id, VectorStoreFile.created_at, VectorStoreFile.usage_bytes)
            .join(VectorStore, VectorStoreFile.vector_store_id == VectorStore.id)
            .join(Project, VectorStore.project_id == Project.id)
            .where(Project.organization_id == organization_id)
        )
        if project_ids:
            stmt = stmt.where(VectorStore.project_id.in_(project_ids))
        with self._sessions() as session:
            files = session.execute(stmt).all()
        out = []
        for moment in before:
            totals: dict[str, int] = {}
            for project_id, created_at, size in files:
                if created_at < moment:
                    totals[project_id] = totals.get(project_id, 0) + int(size)
            out.append(totals)
        return out
