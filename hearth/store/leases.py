"""Leases on background work rows (``store.models.Leased`` tables, run by ``hearth.jobs``).

A row is worked on by the process whose ``lease_owner`` holds an unexpired
``lease_expires_at`` (Unix seconds, float). The worker renews it while it runs; a killed
server stops renewing, so after ``ttl`` the row is claimable again and the next server to
start (or the same one) resumes it. Claims and renewals are compare-and-set updates, so
two servers sharing one database never run the same row twice.
"""

from __future__ import annotations

import os
import secrets
import time
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

OWNER = f"{os.getpid()}-{secrets.token_hex(4)}"
"""This process's lease owner id."""


def guarded_update(
    model: Any,
    row_id: str,
    values: dict[str, Any],
    *,
    owner: str | None = None,
    only_if: tuple[str, ...] = (),
    release: bool = False,
) -> Any:
    """One compare-and-set UPDATE of a leased row to ``values`` (a status or lease checked
    by a separate read could change before the write: a cancel racing the runner).
    ``owner``: only while that process holds the lease; ``only_if``: only from one of these
    statuses; ``release``: drop the lease too. Its rowcount is 1 when it applied."""
    stmt = update(model).where(model.id == row_id)
    if only_if:
        stmt = stmt.where(model.status.in_(only_if))
    if owner is not None:
        stmt = stmt.where(model.lease_owner == owner)
    if release:
        values = {**values, "lease_owner": None, "lease_expires_at": None}
    return stmt.values(**values)


def claimable(model: Any, statuses: tuple[str, ...], now: float) -> Any:
    """The WHERE clause of rows in ``statuses`` whose lease is free or expired."""
    return model.status.in_(statuses) & or_(
        model.lease_owner.is_(None), model.lease_expires_at < now
    )


def claim_next(
    sessions: sessionmaker[Session],
    model: Any,
    statuses: tuple[str, ...],
    ttl: float,
    owner: str = OWNER,
) -> tuple[str, int] | None:
    """Claim the oldest claimable row of ``model``: ``(id, attempts)`` with ``attempts``
    counting this claim, or None if there is none."""
    now = time.time()
    with sessions.begin() as session:
        candidates = session.scalars(
            select(model.id).where(claimable(model, statuses, now)).order_by(model.seq).limit(8)
        ).all()
        for row_id in candidates:
            done = session.execute(
                update(model)
                .where(model.id == row_id)
                .where(claimable(model, statuses, now))
                .values(lease_owner=owner, lease_expires_at=now + ttl, attempts=model.attempts + 1)
            )
            if done.rowcount == 1:  # type: ignore[attr-defined]
                attempts = session.scalar(select(model.attempts).where(model.id == row_id))
                return str(row_id), int(attempts or 0)
    return None


def renew(
    sessions: sessionmaker[Session], model: Any, row_id: str, ttl: float, owner: str = OWNER
) -> bool:
    """Extend ``owner``'s lease on ``row_id``; False if the lease was lost."""
    with sessions.begin() as session:
        done = session.execute(
            update(model)
            .where(model.id == row_id)
            .where(model.lease_owner == owner)
            .values(lease_expires_at=time.time() + ttl)
        )
        return bool(done.rowcount == 1)  # type: ignore[attr-defined]


def release(
    sessions: sessionmaker[Session], model: Any, row_id: str, owner: str = OWNER, **values: Any
) -> bool:
    """Drop ``owner``'s lease on ``row_id``, setting ``values`` in the same update;
    False if the lease was lost (nothing is written then)."""
    with sessions.begin() as session:
        done = session.execute(
            update(model)
            .where(model.id == row_id)
            .where(model.lease_owner == owner)
            .values(lease_owner=None, lease_expires_at=None, **values)
        )
        return bool(done.rowcount == 1)  # type: ignore[attr-defined]
