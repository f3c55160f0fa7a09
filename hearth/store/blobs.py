"""Blob storage for file bytes: one file per blob under ``<data_dir>/blobs``.

Blobs are written to a temporary file in ``<root>/.tmp``, fsynced and renamed
(``BlobWriter.commit``, the one place that does it), so a crash never leaves a partial blob
under a real key; the database row naming a blob is written after it. A writer holds an
exclusive ``flock`` on its temporary file, which the kernel drops when its process dies, so
the sweep at startup removes what interrupted uploads (kill -9, power loss) left and never
the file of an upload still running in another server sharing the data dir.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import secrets
from collections.abc import AsyncIterable, Iterable
from pathlib import Path

from hearth.errors import PayloadTooLarge


def too_large(limit: int) -> PayloadTooLarge:
    """The 413 of an upload over ``limit`` bytes (OpenAI's wording), ``param`` ``file``,
    code ``file_too_large``: the one message, whether the form or the store notices."""
    return PayloadTooLarge(
        f"Maximum content size limit ({limit} bytes) exceeded.", param="file", code="file_too_large"
    )


class BlobWriter:
    """One blob being written to its temporary name: ``write`` chunks, then ``commit``
    (flush, fsync, rename) or ``abort`` (remove the temporary file; a no-op after
    ``commit``). Sync: disk work, run it off the event loop."""

    def __init__(self, key: str, path: Path, tmp: Path, max_bytes: int | None) -> None:
        self.key = key
        self.size = 0
        self._path = path
        self._tmp = tmp
        self._max_bytes = max_bytes
        self._fh = tmp.open("wb")
        fcntl.flock(self._fh, fcntl.LOCK_EX)  # released by the kernel if we die

    def write(self, chunk: bytes) -> None:
        """Append ``chunk``; ``PayloadTooLarge`` once the blob passes ``max_bytes``."""
        self.size += len(chunk)
        if self._max_bytes is not None and self.size > self._max_bytes:
            raise too_large(self._max_bytes)
        self._fh.write(chunk)

    def commit(self) -> tuple[str, int]:
        """Make the blob durable under its key; ``(key, size in bytes)``."""
        with self._fh:  # renamed while still locked: a sweep never sees it unlocked
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._tmp.replace(self._path)
        return self.key, self.size

    def abort(self) -> None:
        """Drop what was written (nothing is kept under the key)."""
        self._fh.close()
        self._tmp.unlink(missing_ok=True)


class BlobStore:
    """Bytes by key (``<2 hex>/<random>``) in a folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._tmp = root / ".tmp"
        self._tmp.mkdir(parents=True, exist_ok=True)
        self.sweep()

    def sweep(self) -> int:
        """Remove the temporary files of interrupted writes (no live writer holds their
        lock), including those an older layout left beside the blobs
        (``<2 hex>/.<name>.tmp``); how many were removed."""
        removed = 0
        for tmp in [*self._tmp.iterdir(), *self.root.glob("*/.*.tmp")]:
            try:
                with tmp.open("rb") as fh:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    tmp.unlink()
            except BlockingIOError:  # a live upload
                continue
            except FileNotFoundError:  # committed or aborted meanwhile
                continue
            removed += 1
        return removed

    def path(self, key: str) -> Path:
        """The file holding ``key``'s bytes."""
        return self.root / key

    def writer(self, max_bytes: int | None = None) -> BlobWriter:
        """A new blob, open for writing under a fresh key."""
        name = secrets.token_hex(16)
        key = f"{name[:2]}/{name}"
        path = self.path(key)
        path.parent.mkdir(exist_ok=True)
        return BlobWriter(key, path, self._tmp / name, max_bytes)

    def put(self, chunks: Iterable[bytes]) -> tuple[str, int]:
        """Store ``chunks``; returns ``(key, size in bytes)``."""
        blob = self.writer()
        try:
            for chunk in chunks:
                blob.write(chunk)
            return blob.commit()
        finally:
            blob.abort()

    async def put_stream(
        self,
        chunks: AsyncIterable[bytes],
        max_bytes: int,
    ) -> tuple[str, int]:
        """Store an async stream, writing on a worker thread; ``(key, size in bytes)``.
        ``PayloadTooLarge`` (nothing kept) beyond ``max_bytes``."""
        blob = await asyncio.to_thread(self.writer, max_bytes)
        try:
            async for chunk in chunks:
                await asyncio.to_thread(blob.write, chunk)
            return await asyncio.to_thread(blob.commit)
        finally:
            blob.abort()

    def read(self, key: str) -> bytes:
        """All of ``key``'s bytes; ``FileNotFoundError`` if it is gone."""
        return self.path(key).read_bytes()

    def delete(self, key: str) -> None:
        """Remove ``key`` (no error if it is already gone)."""
        self.path(key).unlink(missing_ok=True)
