"""Unit tests: example files, epoch order, batches, and the q/k row permutation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError
from transformers.modeling_gguf_pytorch_utils import LlamaTensorProcessor

from hearth.finetune import data
from hearth.finetune.gguf_lora import permute_rows
from hearth.finetune.spec import read_spec


def write_lines(path: Path, *lines: object) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


def test_supervised_lines_load(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "train.jsonl",
        {"input_ids": [5, 6, 7], "loss_mask": [0, 1, 1]},
        "",
        {"input_ids": [1, 2], "loss_mask": [0, 1]},
    )
    examples = data.load(path, "supervised")
    assert examples == [(data.Tokens([5, 6, 7], [0, 1, 1]),), (data.Tokens([1, 2], [0, 1]),)]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "train.jsonl line 2: "),
        (
            {"input_ids": [1, 2], "loss_mask": [0, 1, 1]},
            "train.jsonl line 2: loss_mask and input_ids differ in length",
        ),
        ({"input_ids": [1, 2], "loss_mask": [1, 0]}, "train.jsonl line 2: no target tokens"),
        ({"input_ids": [1, "2"], "loss_mask": [0, 1]}, "train.jsonl line 2: input_ids.1: "),
        ({"input_ids": [1, 2], "loss_mask": [0, 2]}, "train.jsonl line 2: loss_mask.1: "),
    ],
)
def test_bad_lines_are_named(tmp_path: Path, line: object, message: str) -> None:
    path = write_lines(tmp_path / "train.jsonl", {"input_ids": [1, 2], "loss_mask": [0, 1]}, line)
    with pytest.raises(ValueError, match="^" + message):
        data.load(path, "supervised")


def test_dpo_pairs_become_two_sequences(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "train.jsonl", {"prompt_ids": [1, 2], "chosen_ids": [3], "rejected_ids": [4, 5]}
    )
    [(chosen, rejected)] = data.load(path, "dpo")
    assert chosen == data.Tokens([1, 2, 3], [0, 0, 1])
    assert rejected == data.Tokens([1, 2, 4, 5], [0, 0, 1, 1])


def test_epoch_order_is_a_seeded_shuffle() -> None:
    first = data.epoch_order(50, seed=3, epoch=1)
    assert sorted(first) == list(range(50))
    assert data.epoch_order(50, seed=3, epoch=1) == first
    assert data.epoch_order(50, seed=3, epoch=2) != first
    assert data.epoch_order(50, seed=4, epoch=1) != first


def test_batches_pad_and_put_chosen_rows_first() -> None:
    pairs = [
        (data.Tokens([1, 2, 3], [0, 1, 1]), data.Tokens([1, 4], [0, 1])),
        (data.Tokens([5, 6], [0, 1]), data.Tokens([5, 7, 8, 9], [0, 1, 1, 1])),
    ]
    [batch] = data.batches(pairs, batch_size=2)
    assert batch.input_ids.tolist() == [[1, 2, 3, 0], [5, 6, 0, 0], [1, 4, 0, 0], [5, 7, 8, 9]]
    assert batch.attention_mask.sum(1).tolist() == [3, 2, 2, 4]
    assert batch.loss_mask.tolist()[3] == [False, True, True, True]
    assert batch.tokens == 11
    assert [b.tokens for b in data.batches(pairs, batch_size=1)] == [5, 6]


@pytest.mark.parametrize(("name", "rows", "n_head"), [("attn_q", 576, 9), ("attn_k", 192, 3)])
def test_qk_permutation_is_the_inverse_of_transformers_gguf_loader(
    name: str, rows: int, n_head: int
) -> None:
    """transformers un-permutes llama.cpp's q/k rows on load; ours must redo exactly that."""
    hf = np.random.default_rng(0).standard_normal((rows, 16)).astype(np.float32)
    loader = LlamaTensorProcessor(config={"num_attention_heads": 9, "num_key_value_heads": 3})
    restored = loader.process(permute_rows(hf, n_head), f"blk.0.{name}.weight").weights
    np.testing.assert_array_equal(restored, hf)
    assert not np.array_equal(permute_rows(hf, n_head), hf)


def test_spec_defaults_and_rejects_unknown_or_out_of_range_values(tmp_path: Path) -> None:
    (tmp_path / "spec.json").write_text(json.dumps({"base_gguf": "/m.gguf", "method": "dpo"}))
    spec = read_spec(tmp_path)
    assert (spec.hyperparameters.n_epochs, spec.hyperparameters.beta, spec.lora.r) == (3, 0.1, 16)
    assert spec.learning_rate == 1e-4
    for bad in (
        {"hyperparameters": {"n_epochs": 0}},
        {"epochs": 3},
        {"lora": {"targets": ["lm_head"]}},
    ):
        (tmp_path / "spec.json").write_text(
            json.dumps({"base_gguf": "/m.gguf", "method": "supervised", **bad})
        )
        with pytest.raises(ValidationError):
            read_spec(tmp_path)
