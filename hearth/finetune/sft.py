"""Supervised fine-tuning loss: mean cross-entropy over the target tokens of a batch."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from peft import PeftModel

from hearth.finetune.data import Batch
from hearth.finetune.model import target_logits


@dataclass(frozen=True)
class Stats:
    """One batch: ``loss`` (mean, differentiable), ``weight`` (targets it averages over,
    to pool batches) and ``accuracy`` (share of targets the model ranks first)."""

    loss: torch.Tensor
    weight: int
    accuracy: float | None


def loss(model: PeftModel, batch: Batch) -> Stats:
    """Token-level mean negative log-likelihood of the targets (``loss_mask == 1``)."""
    logits, targets, _ = target_logits(model, batch)
    value = F.cross_entropy(logits, targets)
    accuracy = float((logits.detach().argmax(-1) == targets).float().mean())
    return Stats(value, int(targets.numel()), accuracy)
