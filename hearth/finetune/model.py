"""The base model in transformers (from the GGUF itself, never a Hub id) and its LoRA.

transformers reads the GGUF with ``from_pretrained(dir, gguf_file=...)`` and dequantizes it
to fp32 (~20 s for SmolLM2-135M on 2 cores, mostly parsing GGUF metadata); an optional cache
directory keeps the fp32 weights as safetensors so later jobs load in ~1 s.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from peft import LoraConfig, PeftModel, get_peft_model, get_peft_model_state_dict
from safetensors.torch import save_model
from transformers import AutoModelForCausalLM, PreTrainedModel

from hearth.finetune.data import Batch
from hearth.finetune.spec import LoraSettings

_SOURCE = "source.json"


def load_base(gguf_path: Path, cache_dir: Path | None = None) -> PreTrainedModel:
    """The GGUF as an fp32 transformers model (eval mode, no grads), through ``cache_dir``
    when given (written atomically on first use, reused while the GGUF's size and mtime
    match). Raises ``OSError`` / ``ValueError`` from transformers for an unreadable file."""
    stamp = _stamp(gguf_path)
    if cache_dir is not None and _cache_matches(cache_dir, stamp):
        model = AutoModelForCausalLM.from_pretrained(cache_dir, dtype=torch.float32)
    else:
        model = AutoModelForCausalLM.from_pretrained(
            gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32
        )
        if cache_dir is not None:
            _write_cache(model, cache_dir, stamp)
    model.requires_grad_(False)
    return model.eval()


def _stamp(path: Path) -> dict[str, Any]:
    info = path.stat()
    return {"gguf": str(path.resolve()), "size": info.st_size, "mtime_ns": info.st_mtime_ns}


def _cache_matches(cache_dir: Path, stamp: dict[str, Any]) -> bool:
    try:
        return bool(json.loads((cache_dir / _SOURCE).read_text()) == stamp)
    except (OSError, ValueError):
        return False


def _write_cache(model: PreTrainedModel, cache_dir: Path, stamp: dict[str, Any]) -> None:
    # transformers refuses save_pretrained on a GGUF-loaded model ("quantized with gguf"),
    # though the weights are plain fp32: write config + safetensors without that marker.
    tmp = cache_dir.with_name(f".{cache_dir.name}.{uuid.uuid4().hex}.tmp")
    tmp.mkdir(parents=True)
    try:
        config = model.config.to_dict()
        config.pop("quantization_config", None)
        (tmp / "config.json").write_text(json.dumps(config))
        save_model(model, str(tmp / "model.safetensors"))
        (tmp / _SOURCE).write_text(json.dumps(stamp))
        if cache_dir.exists():
            shutil.rmtree(cache_dir)
        os.replace(tmp, cache_dir)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if not isinstance(exc, OSError):  # a cache is an optimization: disk errors pass
            raise


def add_lora(model: PreTrainedModel, settings: LoraSettings) -> PeftModel:
    """Wrap ``model`` with fresh LoRA layers (no dropout, no bias) on ``settings.targets``."""
    config = LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=0.0,
        bias="none",
        target_modules=list(settings.targets),
        task_type="CAUSAL_LM",
    )
    peft_model = get_peft_model(model, config)
    peft_model.train()
    return peft_model


def lora_arrays(model: PeftModel) -> dict[str, np.ndarray]:
    """The adapter's weights as float32 numpy (PEFT key names), for ``gguf_lora``."""
    state = get_peft_model_state_dict(model, save_embedding_layers=False)
    return {k: v.detach().to(torch.float32).numpy().copy() for k, v in state.items()}


def target_logits(
    model: PreTrainedModel | PeftModel, batch: Batch
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Logits at the target positions only: ``(logits [N, vocab], targets [N], rows [N])``
    where ``rows`` is each target's batch row. Skipping the LM head on prompt tokens saves
    memory (vocab 49,152 x fp32 per position) and ~15% of a step."""
    lm = cast(PreTrainedModel, model.get_base_model() if isinstance(model, PeftModel) else model)
    decoder = cast(torch.nn.Module, lm.get_decoder())
    head = cast(torch.nn.Module, lm.get_output_embeddings())
    hidden = decoder(
        input_ids=batch.input_ids, attention_mask=batch.attention_mask, use_cache=False
    ).last_hidden_state
    mask = batch.loss_mask[:, 1:]
    logits = head(hidden[:, :-1][mask])
    cap = getattr(lm.config, "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return logits, batch.input_ids[:, 1:][mask], mask.nonzero()[:, 0]
