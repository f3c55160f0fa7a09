"""Direct Preference Optimization loss (Rafailov et al. 2023, eq. 7).

``-logsigmoid(beta * ((policy_chosen - ref_chosen) - (policy_rejected - ref_rejected)))``,
each term a sequence log-probability summed over the reply tokens. The reference is the
same model with the LoRA adapter switched off, so no second copy of the weights is kept.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from peft import PeftModel

from hearth.finetune.data import Batch
from hearth.finetune.model import target_logits
from hearth.finetune.sft import Stats


def sequence_logprobs(model: PeftModel, batch: Batch) -> torch.Tensor:
    """Summed log-probability of each row's targets -> ``[rows]``."""
    logits, targets, rows = target_logits(model, batch)
    token_logprobs = -F.cross_entropy(logits, targets, reduction="none")
    return torch.zeros(batch.input_ids.shape[0]).index_add(0, rows, token_logprobs)


def margins(model: PeftModel, batch: Batch, beta: float) -> torch.Tensor:
    """``beta * (policy - reference)`` log-ratio of chosen minus that of rejected, per
    pair (rows: chosen..., rejected...)."""
    policy = sequence_logprobs(model, batch)
    with torch.no_grad(), model.disable_adapter():
        reference = sequence_logprobs(model, batch)
    ratio = policy - reference
    half = ratio.shape[0] // 2
    return beta * (ratio[:half] - ratio[half:])


def loss(model: PeftModel, batch: Batch, beta: float) -> Stats:
    """Mean DPO loss over the batch's pairs; ``accuracy`` is None (not a token metric)."""
    margin = margins(model, batch, beta)
    return Stats(-F.logsigmoid(margin).mean(), int(margin.numel()), None)
