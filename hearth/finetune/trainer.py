"""The optimization loop's parts: AdamW over the LoRA weights, linear LR decay to zero,
one step, and validation loss (pooled over targets for supervised, over pairs for dpo)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
from peft import PeftModel

from hearth.finetune import dpo, sft
from hearth.finetune.data import Batch
from hearth.finetune.spec import JobSpec


@dataclass(frozen=True)
class Result:
    """Loss (float) and, for supervised, mean token accuracy of a step or an evaluation."""

    loss: float
    accuracy: float | None
    weight: int


class Trainer:
    """AdamW (no weight decay) at ``spec.learning_rate``, decayed linearly to 0 over
    ``total_steps``; one object per job."""

    def __init__(self, spec: JobSpec, model: PeftModel, total_steps: int):
        self.model = model
        self._method = spec.method
        self._beta = spec.hyperparameters.beta
        params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=spec.learning_rate, weight_decay=0.0)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: max(0.0, 1.0 - step / total_steps)
        )

    def _loss(self, batch: Batch) -> sft.Stats:
        if self._method == "dpo":
            return dpo.loss(self.model, batch, self._beta)
        return sft.loss(self.model, batch)

    def step(self, batch: Batch) -> Result:
        """Forward, backward, optimizer and scheduler step on one batch."""
        self.model.train()
        stats = self._loss(batch)
        stats.loss.backward()
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return Result(float(stats.loss.detach()), stats.accuracy, stats.weight)

    @torch.no_grad()
    def evaluate(self, batches: Iterable[Batch]) -> Result:
        """Loss (and accuracy) over ``batches``, each batch weighted by its targets/pairs."""
        self.model.eval()
        total = correct = 0.0
        weight = 0
        for batch in batches:
            stats = self._loss(batch)
            total += float(stats.loss) * stats.weight
            correct += (stats.accuracy or 0.0) * stats.weight
            weight += stats.weight
        accuracy = correct / weight if self._method == "supervised" else None
        return Result(total / weight, accuracy, weight)
