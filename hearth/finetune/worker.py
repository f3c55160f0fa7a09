"""``python -m hearth.finetune.worker JOB_DIR``: train one LoRA fine-tuning job.

Reads ``JOB_DIR/spec.json`` (``spec.py``) and the tokenized examples it names, trains, and
writes per-epoch checkpoints (``checkpoint.py``) with a merged GGUF each. Protocol
(docs/fine-tuning-training.md; the events are ``spec.py``'s models, which the server
parses too): one JSON object per line on stdout, flushed per line:
``started``, ``step`` (per optimizer step), ``checkpoint`` (after its files are complete),
``done`` or ``error``; paths are relative to JOB_DIR. Anything else (progress bar, library
chatter) goes to stderr. Started again on the same JOB_DIR, it continues after the last
complete checkpoint. SIGTERM/SIGINT stop it within about one training step, exit status
128 + signal, with no partial checkpoint left behind. Exit status 1 follows an ``error``.
"""

from __future__ import annotations

import os

# never reach for the Hub: the base model is the local GGUF (set before transformers loads)
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
# OpenMP threads that spin while waiting starve each other when the server's llama.cpp
# threads share the cores: measured 30-46 s per step instead of ~4 s (2 cores, busy box).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# numpy's BLAS only runs the merge's small LoRA products: threads cost more than they save
# (a merge takes 6-7 s instead of 1.5 s on a busy box)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import contextlib  # noqa: E402
import math  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import traceback  # noqa: E402
import warnings  # noqa: E402
from functools import partial  # noqa: E402
from pathlib import Path  # noqa: E402
from types import FrameType  # noqa: E402
from typing import Any  # noqa: E402

import torch  # noqa: E402
import transformers  # noqa: E402
from pydantic import ValidationError  # noqa: E402
from tqdm import tqdm  # noqa: E402

from hearth.finetune import checkpoint, data  # noqa: E402
from hearth.finetune.gguf_lora import BaseGGUF, lora_from_peft, write_adapter, write_merged  # noqa: E402,E501
from hearth.finetune.model import add_lora, load_base, lora_arrays  # noqa: E402
from hearth.finetune.spec import (  # noqa: E402
    ADAPTER,
    FINAL,
    MODEL,
    CheckpointEvent,
    CheckpointMetrics,
    DoneEvent,
    ErrorEvent,
    JobSpec,
    StartedEvent,
    StepEvent,
    WorkerEvent,
    checkpoint_dir,
    event_line,
    read_spec,
)
from hearth.finetune.trainer import Result, Trainer  # noqa: E402

VALID_EVERY = 10
"""Steps between one-batch validation losses (the full validation set runs per epoch)."""


class Terminated(BaseException):
    """SIGTERM/SIGINT arrived, or whoever reads our events has gone away."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


class Events:
    """The protocol's events (``spec.WorkerEvent``) as JSON lines on the real stdout; fd 1
    and ``sys.stdout`` are pointed at stderr so no library print can corrupt the protocol."""

    def __init__(self) -> None:
        sys.stdout.flush()
        self._out = os.fdopen(os.dup(1), "w", encoding="utf-8")
        os.dup2(2, 1)
        sys.stdout = sys.stderr

    def emit(self, event: WorkerEvent) -> None:
        try:
            self._out.write(event_line(event))
            self._out.flush()
        except BrokenPipeError:
            raise Terminated(signal.SIGPIPE) from None


def _on_signal(signum: int, frame: FrameType | None) -> None:
    raise Terminated(signum)


def _log(message: str) -> None:
    print(f"hearth.finetune: {message}", file=sys.stderr, flush=True)


def _resolve(job_dir: Path, name: str) -> Path:
    return Path(name) if Path(name).is_absolute() else job_dir / name


def run(job_dir: Path, events: Events) -> None:
    """Train (or finish) the job in ``job_dir``; raises ``ValueError`` / ``OSError`` /
    ``ValidationError`` for bad input, ``Terminated`` on a signal."""
    spec = read_spec(job_dir)
    hp = spec.hyperparameters
    torch.set_num_threads(spec.threads or os.cpu_count() or 1)
    train = data.load(_resolve(job_dir, spec.train), spec.method)
    valid = data.load(_resolve(job_dir, spec.valid), spec.method) if spec.valid else []
    per_epoch = data.steps_per_epoch(len(train), hp.batch_size)
    done_epochs = min(checkpoint.latest(job_dir), hp.n_epochs)
    started = StartedEvent(
        total_steps=per_epoch * hp.n_epochs,
        epochs=hp.n_epochs,
        steps_per_epoch=per_epoch,
        resumed_from_epoch=done_epochs,
    )
    if done_epochs == hp.n_epochs:  # killed after the last checkpoint: only finish up
        events.emit(started)
        _finish(job_dir, events, checkpoint.read_progress(job_dir, done_epochs))
        return

    _log(f"loading {spec.base_gguf.name}")
    base = BaseGGUF(spec.base_gguf)
    model = load_base(spec.base_gguf, spec.base_cache)
    _check_fits(model.config, train + valid)
    torch.manual_seed(spec.seed)
    trainer = Trainer(spec, add_lora(model, spec.lora), per_epoch * hp.n_epochs)
    progress = checkpoint.Progress()
    if done_epochs:
        progress = checkpoint.load_state(
            job_dir, done_epochs, trainer.model, trainer.optimizer, trainer.scheduler
        )
    events.emit(started)

    valid_batches = list(data.batches(valid, hp.batch_size))
    bar = tqdm(
        total=per_epoch * hp.n_epochs,
        initial=progress.step,
        unit="step",
        desc=f"fine-tune {job_dir.name}",
        file=sys.stderr,
        dynamic_ncols=True,
        mininterval=1.0 if sys.stderr.isatty() else 15.0,
    )

    def fill(directory: Path) -> None:  # one checkpoint's files (merged GGUF: ~1.5 s)
        lora = lora_from_peft(lora_arrays(trainer.model), spec.lora.alpha, base)
        write_adapter(directory / checkpoint.ADAPTER, lora, base)
        write_merged(directory / checkpoint.MODEL, base, lora)
        checkpoint.save_state(
            directory, trainer.model, trainer.optimizer, trainer.scheduler, progress
        )

    for epoch in range(done_epochs + 1, hp.n_epochs + 1):
        progress.metrics = _train_epoch(
            trainer, spec, epoch, train, valid_batches, progress, events, bar
        )
        progress.epoch = epoch
        ckpt = checkpoint_dir(epoch)
        checkpoint.write(
            job_dir,
            epoch,
            fill,
            partial(
                events.emit,
                CheckpointEvent(
                    epoch=epoch,
                    step=progress.step,
                    model=f"{ckpt}/{MODEL}",
                    adapter=f"{ckpt}/{ADAPTER}",
                    metrics=CheckpointMetrics.model_validate(progress.metrics),
                ),
            ),
        )
    bar.close()
    _finish(job_dir, events, progress)


def _train_epoch(
    trainer: Trainer,
    spec: JobSpec,
    epoch: int,
    train: list[data.Example],
    valid_batches: list[data.Batch],
    progress: checkpoint.Progress,
    events: Events,
    bar: tqdm,
) -> dict[str, float]:
    """One pass over ``train`` in this epoch's order, a ``step`` event per batch (the last
    one with the full validation loss); returns the checkpoint's metrics."""
    batch_size = spec.hyperparameters.batch_size
    per_epoch = data.steps_per_epoch(len(train), batch_size)
    order = data.epoch_order(len(train), spec.seed, epoch)
    results: list[Result] = []
    step: dict[str, Any] = {}
    for index, batch in enumerate(data.batches(train, batch_size, order), start=1):
        result = trainer.step(batch)
        if not math.isfinite(result.loss):
            raise ValueError(
                "the training loss is no longer finite; try a lower learning_rate_multiplier"
            )
        results.append(result)
        progress.step += 1
        progress.trained_tokens += batch.tokens
        step = {
            "step": progress.step,
            "epoch": epoch,
            "train_loss": result.loss,
            "tokens": batch.tokens,
        }
        if result.accuracy is not None:
            step["train_mean_token_accuracy"] = result.accuracy
        if valid_batches and index == per_epoch:
            step.update(_valid_metrics(trainer.evaluate(valid_batches), full=True))
        elif valid_batches and progress.step % VALID_EVERY == 0:
            one = valid_batches[(progress.step // VALID_EVERY) % len(valid_batches)]
            step.update(_valid_metrics(trainer.evaluate([one]), full=False))
        events.emit(StepEvent(**step))
        bar.update(1)
        bar.set_postfix(loss=f"{result.loss:.3f}", epoch=epoch, refresh=False)
    return _checkpoint_metrics(progress.step, results, step)


def _check_fits(config: Any, examples: list[data.Example]) -> None:
    vocab = int(config.vocab_size)
    if data.max_token_id(examples) >= vocab:
        raise ValueError(
            f"token id {data.max_token_id(examples)} is outside the model's vocabulary of {vocab}"
        )
    context = int(config.max_position_embeddings)
    if data.longest(examples) > context:
        raise ValueError(
            f"an example has {data.longest(examples)} tokens; the model's context is {context}"
        )


def _valid_metrics(result: Result, *, full: bool) -> dict[str, float]:
    metrics = {"valid_loss": result.loss}
    if result.accuracy is not None:
        metrics["valid_mean_token_accuracy"] = result.accuracy
    if full:
        metrics.update({f"full_{k}": v for k, v in list(metrics.items())})
    return metrics


def _checkpoint_metrics(step: int, results: list[Result], last: dict[str, Any]) -> dict[str, float]:
    """OpenAI's checkpoint ``metrics``: train figures are the epoch's means, valid ones
    the full validation set at the checkpoint."""
    metrics: dict[str, float] = {
        "step": step,
        "train_loss": sum(r.loss for r in results) / len(results),
    }
    accuracies = [r.accuracy for r in results if r.accuracy is not None]
    if accuracies:
        metrics["train_mean_token_accuracy"] = sum(accuracies) / len(accuracies)
    for key in (
        "valid_loss",
        "valid_mean_token_accuracy",
        "full_valid_loss",
        "full_valid_mean_token_accuracy",
    ):
        if key in last:
            metrics[key] = last[key]
    return metrics


def _finish(job_dir: Path, events: Events, progress: checkpoint.Progress) -> None:
    checkpoint.finalize(
        job_dir,
        progress.epoch,
        partial(
            events.emit,
            DoneEvent(
                trained_tokens=progress.trained_tokens,
                model=f"{FINAL}/{MODEL}",
                adapter=f"{FINAL}/{ADAPTER}",
            ),
        ),
    )


def _message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        return f"spec.json: {where}: {err['msg']}"
    if isinstance(exc, (ValueError, OSError)):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def main(argv: list[str]) -> int:
    """Run the job named by ``argv[0]``; returns the exit status."""
    if len(argv) != 1:
        print("usage: python -m hearth.finetune.worker JOB_DIR", file=sys.stderr)
        return 2
    events = Events()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _on_signal)
    transformers.logging.set_verbosity_error()
    warnings.filterwarnings("ignore", category=FutureWarning)  # libraries' deprecation notes
    transformers.logging.disable_progress_bar()
    try:
        run(Path(argv[0]).resolve(), events)
    except Terminated as stop:
        _log(f"stopped by signal {stop.signum}; resumes from the last checkpoint")
        return 128 + stop.signum
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        with contextlib.suppress(Terminated):
            events.emit(ErrorEvent(message=_message(exc)))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
