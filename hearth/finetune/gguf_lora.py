"""LoRA weights into llama.cpp: an adapter GGUF and a merged GGUF (numpy + gguf only).

PEFT's ``lora_A`` ``[r, in]`` and ``lora_B`` ``[out, r]`` are already llama.cpp's ``lora_a``
/ ``lora_b`` layouts. One trap (docs/research/finetune.md, section 3a): llama.cpp's GGUF
stores the rows of llama's q/k projections permuted (``convert_hf_to_gguf``'s
``LlamaModel.permute``) and transformers un-permutes them on load, so ``lora_B`` of q/k
must get the same row permutation. Leaving it out still loads and still looks plausible
(corr 0.86 vs the PEFT model instead of 0.999); ``tests/finetune`` checks logits for it.

The merged file re-quantizes merged tensors to Q8_0 and copies every other tensor raw:
merging into Q4_1 again erases the fine-tune (the 4-bit step swamps the LoRA delta), F16
decodes ~15% slower than the base, Q8_0 keeps the fine-tune and the base's speed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gguf
import numpy as np
from gguf import GGMLQuantizationType, GGUFReader, GGUFValueType, GGUFWriter
from gguf.quants import dequantize, quantize

# PEFT target module (HF name) -> llama.cpp tensor name inside ``blk.<i>.``
TARGETS = {
    "q_proj": "attn_q",
    "k_proj": "attn_k",
    "v_proj": "attn_v",
    "o_proj": "attn_output",
    "gate_proj": "ffn_gate",
    "up_proj": "ffn_up",
    "down_proj": "ffn_down",
}
SUPPORTED_ARCHS = ("llama",)
_PEFT_KEY = re.compile(r".*\blayers\.(\d+)\.(?:self_attn|mlp)\.(\w+)\.lora_([AB])\.weight")
_FLOAT_TYPES = (GGMLQuantizationType.F32, GGMLQuantizationType.F16, GGMLQuantizationType.BF16)
_MERGED_TYPE = GGMLQuantizationType.Q8_0


@dataclass(frozen=True)
class LoraTensors:
    """LoRA factors by the base tensor they adapt, in GGUF row order (q/k ``B`` permuted).

    ``pairs``: ``"blk.<i>.<name>.weight" -> (A [r, in], B [out, r])`` float32;
    the update is ``W += alpha / r * B @ A``.
    """

    alpha: float
    pairs: dict[str, tuple[np.ndarray, np.ndarray]]


class BaseGGUF:
    """A base model GGUF opened once (parsing its vocabulary takes a few seconds).

    Raises ``ValueError`` for an architecture the q/k layout is not known for.
    """

    def __init__(self, path: Path):
        self.path = path
        self.reader = GGUFReader(path)
        self.arch = str(self._field("general.architecture"))
        if self.arch not in SUPPORTED_ARCHS:
            raise ValueError(
                f"fine-tuning supports {', '.join(SUPPORTED_ARCHS)} GGUF models; "
                f"{path.name} is {self.arch!r}"
            )
        self.n_head = int(self._field(f"{self.arch}.attention.head_count"))
        self.n_head_kv = int(self._field(f"{self.arch}.attention.head_count_kv") or self.n_head)

    def _field(self, key: str) -> Any:
        field = self.reader.get_field(key)
        return field.contents() if field is not None else None


def permute_rows(weights: np.ndarray, n_head: int) -> np.ndarray:
    """``convert_hf_to_gguf``'s llama q/k permutation on output rows (``n_head`` = heads
    of that projection: ``head_count`` for q, ``head_count_kv`` for k)."""
    return (
        weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def lora_from_peft(state: Mapping[str, np.ndarray], alpha: float, base: BaseGGUF) -> LoraTensors:
    """PEFT adapter weights (``get_peft_model_state_dict`` keys such as
    ``base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight``, as numpy) ->
    ``LoraTensors``. Raises ``ValueError`` for a key or module it cannot map."""
    factors: dict[str, dict[str, np.ndarray]] = {}
    for key, value in state.items():
        match = _PEFT_KEY.fullmatch(key)
        if match is None or match.group(2) not in TARGETS:
            raise ValueError(f"cannot map LoRA weight {key!r} to a GGUF tensor")
        layer, module, which = match.groups()
        tensor = np.asarray(value, dtype=np.float32)
        if which == "B" and module == "q_proj":
            tensor = permute_rows(tensor, base.n_head)
        elif which == "B" and module == "k_proj":
            tensor = permute_rows(tensor, base.n_head_kv)
        factors.setdefault(f"blk.{layer}.{TARGETS[module]}.weight", {})[which] = tensor
    pairs = {name: (ab["A"], ab["B"]) for name, ab in sorted(factors.items())}
    return LoraTensors(alpha=float(alpha), pairs=pairs)


def write_adapter(path: Path, lora: LoraTensors, base: BaseGGUF) -> None:
    """A llama.cpp LoRA adapter GGUF (``general.type=adapter``, factors in F16), loadable
    with ``llama_adapter_lora_init`` on ``base``; llama.cpp scales by ``alpha / r``."""
    writer = GGUFWriter(path, base.arch)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, lora.alpha)
    for name, (a, b) in lora.pairs.items():
        writer.add_tensor(f"{name}.lora_a", a.astype(np.float16))
        writer.add_tensor(f"{name}.lora_b", b.astype(np.float16))
    _finish(writer)


def read_adapter(path: Path) -> LoraTensors:
    """An adapter GGUF written by ``write_adapter`` (or llama.cpp's converter) back as
    ``LoraTensors`` (float32)."""
    reader = GGUFReader(path)
    field = reader.get_field(gguf.Keys.Adapter.LORA_ALPHA)
    if field is None:
        raise ValueError(f"{path} is not a LoRA adapter GGUF (no {gguf.Keys.Adapter.LORA_ALPHA})")
    tensors = {t.name: np.array(t.data, dtype=np.float32) for t in reader.tensors}
    pairs = {
        name[: -len(".lora_a")]: (a, tensors[name[:-1] + "b"])
        for name, a in sorted(tensors.items())
        if name.endswith(".lora_a")
    }
    return LoraTensors(alpha=float(field.contents()), pairs=pairs)


def write_merged(path: Path, base: BaseGGUF, lora: LoraTensors, *, name: str | None = None) -> int:
    """``base`` with ``W + alpha / r * B @ A`` for every adapted tensor -> a full GGUF at
    ``path``. Merged tensors become Q8_0 (float bases keep their float type; rows not a
    multiple of 32 fall back to F16); every other tensor and metadata key is copied raw.
    ``name``: ``general.name`` of the result (default: the base's). Returns the number of
    merged tensors; raises ``ValueError`` if an adapted tensor is missing from ``base``."""
    missing = set(lora.pairs) - {t.name for t in base.reader.tensors}
    if missing:
        raise ValueError(f"the base model has no tensor {sorted(missing)[0]!r}")
    writer = GGUFWriter(path, base.arch)
    skip = {"general.architecture", "general.alignment"} | ({"general.name"} if name else set())
    for field in base.reader.fields.values():
        if field.name.startswith("GGUF.") or field.name in skip:
            continue
        vtype = field.types[0]
        sub_type = field.types[-1] if vtype == GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), vtype, sub_type=sub_type)
    if name:
        writer.add_name(name)
    merged = 0
    for tensor in base.reader.tensors:
        pair = lora.pairs.get(tensor.name)
        if pair is None:
            # quantized data is uint8 [rows, bytes]: the writer derives the shape from it
            writer.add_tensor(tensor.name, tensor.data, raw_dtype=tensor.tensor_type)
            continue
        a, b = pair
        weights = dequantize(tensor.data, tensor.tensor_type).reshape(b.shape[0], a.shape[1])
        weights = weights.astype(np.float32) + (lora.alpha / a.shape[0]) * (b @ a)
        qtype = _merged_type(tensor.tensor_type, a.shape[1])
        writer.add_tensor(tensor.name, quantize(weights, qtype), raw_dtype=qtype)
        merged += 1
    _finish(writer)
    return merged


def _merged_type(base_type: GGMLQuantizationType, row: int) -> GGMLQuantizationType:
    if base_type in _FLOAT_TYPES:
        return base_type
    block = gguf.GGML_QUANT_SIZES[_MERGED_TYPE][0]
    return _MERGED_TYPE if row % block == 0 else GGMLQuantizationType.F16


def _finish(writer: GGUFWriter) -> None:
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
