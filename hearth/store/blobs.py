"""Blob storage for file bytes: one file per blob under ``<data_dir>/blobs``.

Blobs are written to a temporary name, fsynced and renamed, so a crash never leaves a
partial blob under a real key; the database row naming a blob is written after it.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

from hearth.errors import PayloadTooLarge


class BlobStore:
    """Bytes by key (``<2 hex>/<random>``) in a folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        """The file holding ``key``'s bytes."""
        return self.root / key

    def _new(self) -> tuple[str, Path, Path]:
        name = secrets.token_hex(16)
        key = f"{name[:2]}/{name}"
        path = self.path(key)
        path.parent.mkdir(exist_ok=True)
        return key, path, path.with_name(f".{name}.tmp")

    def put(self, chunks: Iterable[bytes]) -> tuple[str, int]:
        """Store ``chunks``; returns ``(key, size in bytes)``."""
        key, path, tmp = self._new()
        size = 0
        try:
            with tmp.open("wb") as fh:
                for chunk in chunks:
                    fh.write(chunk)
                    size += len(chunk)
                fh.flush()
                os.fsync(fh.fileno())
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)
        return key, size

    async def put_stream(self, chunks: AsyncIterator[bytes], max_bytes: int,
                         ) -> tuple[str, int]:
        """Store an async stream; ``PayloadTooLarge`` (nothing kept) beyond ``max_bytes``."""
        key, path, tmp = self._new()
        size = 0
        try:
            with tmp.open("wb") as fh:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > max_bytes:
                        raise PayloadTooLarge(
                            f"File is too large: the limit is {max_bytes} bytes.",
                            param="file", code="file_too_large")
                    fh.write(chunk)
                fh.flush()
                os.fsync(fh.fileno())
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)
        return key, size

    def read(self, key: str) -> bytes:
        """All of ``key``'s bytes; ``FileNotFoundError`` if it is gone."""
        return self.path(key).read_bytes()

    def delete(self, key: str) -> None:
        """Remove ``key`` (no error if it is already gone)."""
        self.path(key).unlink(missing_ok=True)
