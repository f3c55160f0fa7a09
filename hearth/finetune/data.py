"""Training examples (already tokenized by the server), per-epoch order, padded batches.

Lines of ``train.jsonl`` / ``valid.jsonl``:
- supervised ``{"input_ids": [...], "loss_mask": [0|1, ...]}``: ``loss_mask[i] == 1`` means
  token ``i`` is a target (predicted from tokens ``< i``), e.g. the assistant's reply and
  its end-of-turn token.
- dpo ``{"prompt_ids": [...], "chosen_ids": [...], "rejected_ids": [...]}``: two sequences,
  ``prompt + chosen`` and ``prompt + rejected``, whose targets are the reply tokens.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

Method = Literal["supervised", "dpo"]


@dataclass(frozen=True)
class Tokens:
    """One sequence for the model: ids and which of them are targets (0/1)."""

    input_ids: list[int]
    loss_mask: list[int]


# An example is one sequence (supervised) or (chosen, rejected) (dpo).
Example = tuple[Tokens, ...]


@dataclass(frozen=True)
class Batch:
    """Right-padded tensors ``[rows, longest]``; for dpo the first half of the rows are the
    chosen sequences, the second half the rejected ones, in the same order.

    ``tokens``: real (non-pad) tokens in the batch, as billed in ``trained_tokens``.
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    loss_mask: torch.Tensor
    tokens: int


class _Line(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class _Supervised(_Line):
    input_ids: list[StrictInt] = Field(min_length=2)
    loss_mask: list[Literal[0, 1]]


class _Preference(_Line):
    prompt_ids: list[StrictInt] = Field(min_length=1)
    chosen_ids: list[StrictInt] = Field(min_length=1)
    rejected_ids: list[StrictInt] = Field(min_length=1)


def load(path: Path, method: Method) -> list[Example]:
    """Every line of ``path`` as an example. Raises ``ValueError`` naming the file and line
    for a malformed line, a mask of the wrong length or an example with no target."""
    examples = []
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                examples.append(_parse(raw, method))
            except (ValidationError, ValueError) as exc:
                raise ValueError(f"{path.name} line {number}: {_reason(exc)}") from None
    if not examples:
        raise ValueError(f"{path.name} has no examples")
    return examples


def _parse(raw: bytes, method: Method) -> Example:
    if method == "supervised":
        line = _Supervised.model_validate_json(raw)
        if len(line.loss_mask) != len(line.input_ids):
            raise ValueError("loss_mask and input_ids differ in length")
        if not any(line.loss_mask[1:]):
            raise ValueError("no target tokens (loss_mask is 0 after the first token)")
        return (Tokens(line.input_ids, list(line.loss_mask)),)
    pref = _Preference.model_validate_json(raw)
    prompt = [0] * len(pref.prompt_ids)
    return (
        Tokens(pref.prompt_ids + pref.chosen_ids, prompt + [1] * len(pref.chosen_ids)),
        Tokens(pref.prompt_ids + pref.rejected_ids, prompt + [1] * len(pref.rejected_ids)),
    )


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        return f"{where}: {err['msg']}" if where else str(err["msg"])
    return str(exc)


def max_token_id(examples: Sequence[Example]) -> int:
    """The largest token id anywhere (checked against the model's vocabulary)."""
    return max(max(seq.input_ids) for example in examples for seq in example)


def longest(examples: Sequence[Example]) -> int:
    """Length of the longest sequence (checked against the model's context)."""
    return max(len(seq.input_ids) for example in examples for seq in example)


def epoch_order(count: int, seed: int, epoch: int) -> list[int]:
    """A shuffle of ``range(count)`` that depends only on ``(seed, epoch)``, so a resumed
    job sees the same order as an uninterrupted one."""
    return [int(i) for i in np.random.default_rng([seed, epoch]).permutation(count)]


def batches(
    examples: Sequence[Example], batch_size: int, order: Sequence[int] | None = None
) -> Iterator[Batch]:
    """Consecutive batches of ``batch_size`` examples in ``order`` (the last may be
    smaller)."""
    index = list(order) if order is not None else list(range(len(examples)))
    for start in range(0, len(index), batch_size):
        yield collate([examples[i] for i in index[start : start + batch_size]])


def steps_per_epoch(count: int, batch_size: int) -> int:
    return -(-count // batch_size)


def collate(examples: Sequence[Example]) -> Batch:
    """Pad to the longest sequence (pad id 0, masked out of attention and loss); dpo rows
    are ordered chosen..., rejected...."""
    rows = [example[k] for k in range(len(examples[0])) for example in examples]
    width = max(len(seq.input_ids) for seq in rows)
    ids = torch.zeros((len(rows), width), dtype=torch.long)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    targets = torch.zeros((len(rows), width), dtype=torch.bool)
    for r, seq in enumerate(rows):
        n = len(seq.input_ids)
        ids[r, :n] = torch.tensor(seq.input_ids)
        attention[r, :n] = 1
        targets[r, :n] = torch.tensor(seq.loss_mask, dtype=torch.bool)
    return Batch(ids, attention, targets, tokens=int(attention.sum()))
