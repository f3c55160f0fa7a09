"""Embedding models a user adds: a folder with ``model.onnx`` and ``tokenizer.json`` is
served under its own id next to the bundled one, and aliases must name a served model."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from hearth.errors import ModelNotFound
from hearth.retrieval.embeddings import EmbeddingRegistry, bundled_source


def user_model(folder: Path) -> Path:
    """A copy of the bundled encoder laid out as a user's model folder."""
    source = bundled_source()
    assert source is not None
    folder.mkdir()
    shutil.copy(source.model, folder / "model.onnx")
    assert isinstance(source.tokenizer, str)
    (folder / "tokenizer.json").write_text(source.tokenizer)
    return folder


def test_a_user_model_is_served_with_its_own_id(tmp_path: Path) -> None:
    folder = user_model(tmp_path / "my-encoder")
    registry = EmbeddingRegistry.build(True, [f"{folder}=house-embedder"], {}, 1, 8)
    try:
        ids = {m.id for m in registry.models()}
        assert {"all-minilm-l6-v2", "house-embedder", "text-embedding-3-small"} <= ids
        mine = registry.get("house-embedder")
        assert mine.model.max_input_tokens == 126  # the tokenizer's own 128, less [CLS]/[SEP]
        tokens = mine.model.tokenize(["lighthouse keeper"])
        same = registry.get("all-minilm-l6-v2").submit(tokens).result(timeout=60)
        assert np.allclose(mine.submit(tokens).result(timeout=60), same, atol=1e-5)
        with pytest.raises(ModelNotFound):
            registry.get("nobody")
    finally:
        registry.close()


def test_bad_model_specs_fail_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not found"):
        EmbeddingRegistry.build(True, [str(tmp_path / "missing")], {}, 1, 8)
    with pytest.raises(ValueError, match="unknown model"):
        EmbeddingRegistry.build(True, [], {"text-embedding-3-small": "nobody"}, 1, 8)


def test_the_bundled_tokenizer_is_read_from_its_zip() -> None:
    source = bundled_source()
    assert source is not None and source.max_tokens == 256
    assert source.model.name == "model.onnx" and source.model.is_file()
    assert isinstance(source.tokenizer, str) and '"WordPiece"' in source.tokenizer
