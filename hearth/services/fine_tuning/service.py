"""``client.fine_tuning.jobs``. Skeleton: see docs/distillation.md."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from hearth.config import Settings
from hearth.engine.registry import ModelRegistry
from hearth.services.files import Files


class FineTuning:
    """Jobs CRUD and the background runner that trains queued jobs in a worker process."""

    def __init__(self, sessions: sessionmaker[Session], files: Files, models: ModelRegistry,
                 settings: Settings) -> None:
        self._sessions = sessions
        self._files = files
        self._models = models
        self._settings = settings

    async def start(self) -> None:
        """Start the background runner (resumes jobs whose lease expired)."""

    async def stop(self) -> None:
        """Stop the runner and its worker; running jobs resume from their last checkpoint
        on next start."""
