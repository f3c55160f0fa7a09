"""``client.files`` (OpenAI API reference: Files). Skeleton: see docs/distillation.md."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from hearth.config import Settings
from hearth.store.blobs import BlobStore


class Files:
    """Upload, list, retrieve, content, delete; bytes in ``BlobStore``, rows in ``files``."""

    def __init__(self, sessions: sessionmaker[Session], blobs: BlobStore,
                 settings: Settings) -> None:
        self._sessions = sessions
        self.blobs = blobs
        self._max_bytes = int(settings.max_file_mb * 1_000_000)
