"""``client.evals`` and ``client.evals.runs``. Skeleton: see docs/distillation.md."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from hearth.config import Settings
from hearth.services.chat.completions import ChatCompletions
from hearth.services.chat.stored import StoredCompletions
from hearth.services.files import Files


class Evals:
    """Evals CRUD, run creation, and the background runner of queued runs."""

    def __init__(self, sessions: sessionmaker[Session], chat: ChatCompletions, files: Files,
                 stored: StoredCompletions, settings: Settings) -> None:
        self._sessions = sessions
        self._chat = chat
        self._files = files
        self._stored = stored
        self._settings = settings

    async def start(self) -> None:
        """Start the background runner (resumes runs whose lease expired)."""

    async def stop(self) -> None:
        """Stop the runner; runs in progress keep their rows and resume on next start."""
