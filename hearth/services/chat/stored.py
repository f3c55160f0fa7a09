"""Stored chat completions (``store: true``). Skeleton: see docs/distillation.md."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker


class StoredCompletions:
    """Persist, list (metadata filter), retrieve, update metadata, delete, messages."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
