"""Per-epoch checkpoints in JOB_DIR, each complete or absent.

``ckpt-<epoch>/`` holds ``model.gguf`` (merged), ``adapter.gguf`` and ``state/`` (the PEFT
adapter, ``trainer.pt`` with optimizer, LR scheduler and torch RNG state, and
``progress.json``). It is written as ``.ckpt-<epoch>.tmp/``, fsynced, then renamed, so a
crash or kill at any moment leaves either the whole checkpoint or none; leftover temp
directories are removed on the next start. ``final/`` links the last epoch's models and
its PEFT adapter (``final/state/``, which vLLM loads as a LoRA adapter).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from peft import PeftModel, set_peft_model_state_dict
from peft.utils import CONFIG_NAME, SAFETENSORS_WEIGHTS_NAME, load_peft_weights

from hearth.finetune.spec import ADAPTER, FINAL, MODEL, PROGRESS, STATE

_TRAINER = "trainer.pt"
_PEFT_FILES = (CONFIG_NAME, SAFETENSORS_WEIGHTS_NAME)
"""The PEFT adapter in ``state/`` (what a vLLM upstream loads as a LoRA adapter)."""
_CKPT = re.compile(r"ckpt-(\d+)")
_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


@dataclass
class Progress:
    """Where training stands after ``epoch`` (1-based): global ``step``, tokens trained so
    far, and the checkpoint's metrics (OpenAI's checkpoint ``metrics`` keys)."""

    epoch: int = 0
    step: int = 0
    trained_tokens: int = 0
    metrics: dict[str, float] = field(default_factory=dict)


def name(epoch: int) -> str:
    return f"ckpt-{epoch}"


def latest(job_dir: Path) -> int:
    """The last complete epoch checkpoint in ``job_dir`` (0 if none); removes temp
    directories a killed worker left behind."""
    for tmp in job_dir.glob(".*.tmp"):
        shutil.rmtree(tmp, ignore_errors=True)
    epochs = [
        int(m.group(1))
        for p in job_dir.iterdir()
        if (m := _CKPT.fullmatch(p.name)) and (p / STATE / PROGRESS).is_file()
    ]
    return max(epochs, default=0)


def read_progress(job_dir: Path, epoch: int) -> Progress:
    """``progress.json`` of checkpoint ``epoch``."""
    data = json.loads((job_dir / name(epoch) / STATE / PROGRESS).read_text())
    return Progress(**data)


def write(
    job_dir: Path, epoch: int, fill: Callable[[Path], None], announce: Callable[[], None]
) -> Path:
    """Create ``ckpt-<epoch>/`` atomically: ``fill(tmp_dir)`` writes the files. If it
    raises (or the process is terminated meanwhile), the temp directory is removed.
    ``announce()`` runs right after the rename with SIGTERM/SIGINT held back, so a stop
    never falls between a checkpoint and its event."""
    return _atomic_dir(job_dir / name(epoch), fill, announce)


def save_state(
    directory: Path,
    model: PeftModel,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    progress: Progress,
) -> None:
    """Everything needed to continue after this epoch, into ``directory/state``."""
    state = directory / STATE
    model.save_pretrained(str(state), save_embedding_layers=False)
    torch.save(
        {
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "torch_rng": torch.get_rng_state(),
        },
        state / _TRAINER,
    )
    (state / PROGRESS).write_text(json.dumps(asdict(progress)))


def load_state(
    job_dir: Path,
    epoch: int,
    model: PeftModel,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
) -> Progress:
    """Restore the adapter, optimizer, scheduler and RNG of checkpoint ``epoch``."""
    state = job_dir / name(epoch) / STATE
    set_peft_model_state_dict(model, load_peft_weights(str(state), device="cpu"))
    saved: dict[str, Any] = torch.load(state / _TRAINER, weights_only=True)
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    torch.set_rng_state(saved["torch_rng"])
    return read_progress(job_dir, epoch)


def finalize(job_dir: Path, epoch: int, announce: Callable[[], None]) -> Path:
    """``final/`` with the model, the adapter and the PEFT adapter (``state/``) of
    checkpoint ``epoch`` (hard links, so deleting old checkpoints never touches it; copies
    where links are impossible), then ``announce()`` as in ``write``."""
    source = job_dir / name(epoch)

    def fill(tmp: Path) -> None:
        (tmp / STATE).mkdir()
        for file in (MODEL, ADAPTER, *(f"{STATE}/{peft}" for peft in _PEFT_FILES)):
            try:
                os.link(source / file, tmp / file)
            except OSError:
                shutil.copy2(source / file, tmp / file)

    return _atomic_dir(job_dir / FINAL, fill, announce)


def _atomic_dir(target: Path, fill: Callable[[Path], None], announce: Callable[[], None]) -> Path:
    tmp = target.with_name(f".{target.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        fill(tmp)
        _fsync_tree(tmp)
        held = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            if target.exists():
                shutil.rmtree(target)
            os.replace(tmp, target)
            _fsync(target.parent)
            announce()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)  # a held-back stop lands here
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _fsync_tree(root: Path) -> None:
    for path in sorted(root.rglob("*"), reverse=True):
        _fsync(path)
    _fsync(root)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
