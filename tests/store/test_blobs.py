"""Blob storage: a write interrupted by the death of its process leaves nothing behind
once the store starts again; a write still running elsewhere is left alone."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from hearth.store.blobs import BlobStore

KILLED_WRITER = """
import os, signal, sys
from pathlib import Path
from hearth.store.blobs import BlobStore

blob = BlobStore(Path(sys.argv[1])).writer()
blob.write(b"x" * 1_000_000)
blob._fh.flush()
os.kill(os.getpid(), signal.SIGKILL)
"""


def files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_sweep_removes_what_a_killed_writer_left(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    done = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(root)], check=False)
    assert done.returncode == -signal.SIGKILL
    left = files(root)
    assert len(left) == 1 and left[0].parent == root / ".tmp"  # the partial write
    BlobStore(root)  # a restart
    assert files(root) == []


def test_sweep_keeps_a_live_write_and_committed_blobs(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    key, size = store.put([b"kept"])
    live = store.writer()
    live.write(b"in progress")
    assert BlobStore(tmp_path / "blobs").sweep() == 0  # another server starting
    assert store.read(key) == b"kept" and size == 4
    assert store.read(live.commit()[0]) == b"in progress"
    assert len(files(tmp_path / "blobs")) == 2


def test_sweep_removes_temporary_files_of_the_older_layout(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    (root / "ab").mkdir(parents=True)
    (root / "ab" / ".ab12.tmp").write_bytes(b"partial")
    assert BlobStore(root).sweep() == 0  # the constructor swept it already
    assert files(root) == []
