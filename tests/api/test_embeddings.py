"""client.embeddings through the SDK against the bundled all-MiniLM-L6-v2: every input
shape, both encodings, exact usage, OpenAI's model ids, meaning (similar texts are
closer) and the 400s for input the model cannot read whole."""

from __future__ import annotations

import base64

import numpy as np
import openai
import pytest

from hearth.services.container import Services

pytestmark = pytest.mark.anyio

MODEL = "text-embedding-3-small"


def vec(values: list[float]) -> np.ndarray:
    return np.asarray(values, dtype=np.float32)


async def test_input_shapes_usage_and_meaning(
    client: openai.AsyncOpenAI, services: Services
) -> None:
    texts = ["The cat sat on the mat.", "A feline rested on a rug.", "Stock markets fell sharply."]
    out = await client.embeddings.create(model=MODEL, input=texts, encoding_format="float")
    assert (out.object, out.model, [d.index for d in out.data]) == ("list", MODEL, [0, 1, 2])
    vectors = [vec(d.embedding) for d in out.data]
    assert all(v.shape == (384,) and abs(np.linalg.norm(v) - 1) < 1e-4 for v in vectors)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2
    model = services.embedding_models.get(MODEL).model
    ids = model.tokenize(texts)
    assert out.usage.prompt_tokens == out.usage.total_tokens == sum(len(t) for t in ids)
    one = await client.embeddings.create(model=MODEL, input=texts[0], encoding_format="float")
    assert np.allclose(vec(one.data[0].embedding), vectors[0], atol=1e-5)
    by_ids = await client.embeddings.create(model=MODEL, input=ids[0], encoding_format="float")
    assert np.allclose(vec(by_ids.data[0].embedding), vectors[0], atol=1e-5)
    many_ids = await client.embeddings.create(model=MODEL, input=ids, encoding_format="float")
    assert np.allclose(vec(many_ids.data[2].embedding), vectors[2], atol=1e-5)
    assert many_ids.usage.prompt_tokens == out.usage.prompt_tokens


async def test_base64_is_the_sdk_default(client: openai.AsyncOpenAI, http) -> None:  # type: ignore[no-untyped-def]
    decoded = await client.embeddings.create(model=MODEL, input="hello world")
    raw = await http.post(
        "/v1/embeddings",
        json={"model": MODEL, "input": "hello world", "encoding_format": "base64"},
        headers={
            "Authorization": client._client.headers.get("Authorization")
            or f"Bearer {client.api_key}"
        },
    )
    b64 = raw.json()["data"][0]["embedding"]
    assert isinstance(b64, str)
    assert np.allclose(np.frombuffer(base64.b64decode(b64), dtype="<f4"), decoded.data[0].embedding)


async def test_model_ids(client: openai.AsyncOpenAI) -> None:
    ids = {m.id async for m in client.models.list()}
    assert {
        "all-minilm-l6-v2",
        "text-embedding-3-small",
        "text-embedding-3-large",
        "text-embedding-ada-002",
    } <= ids
    for model in ("all-minilm-l6-v2", "text-embedding-ada-002"):
        out = await client.embeddings.create(model=model, input="x", encoding_format="float")
        assert out.model == model and len(out.data[0].embedding) == 384
    with pytest.raises(openai.NotFoundError) as err:
        await client.embeddings.create(model="no-such-embedder", input="x")
    assert err.value.body["param"] == "model"  # type: ignore[index]
    with pytest.raises(openai.PermissionDeniedError):
        await client.models.delete("text-embedding-3-small")


async def test_dimensions(client: openai.AsyncOpenAI) -> None:
    same = await client.embeddings.create(
        model=MODEL, input="x", dimensions=384, encoding_format="float"
    )
    assert len(same.data[0].embedding) == 384
    with pytest.raises(openai.BadRequestError) as err:
        await client.embeddings.create(model=MODEL, input="x", dimensions=256)
    assert err.value.body["param"] == "dimensions"  # type: ignore[index]


async def test_inputs_the_model_cannot_read(client: openai.AsyncOpenAI) -> None:
    long = "word " * 300
    with pytest.raises(openai.BadRequestError) as err:
        await client.embeddings.create(model=MODEL, input=["short", long])
    assert err.value.code == "context_length_exceeded"
    assert err.value.body["param"] == "input[1]"  # type: ignore[index]
    assert "254" in err.value.message
    for bad, param in ((["ok", ""], "input[1]"), ([], "input"), ("", "input")):
        with pytest.raises(openai.BadRequestError) as err:
            await client.embeddings.create(model=MODEL, input=bad)
        assert err.value.body["param"] == param, bad  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as err:
        await client.embeddings.create(model=MODEL, input=[[1, 2, 99_999_999]])
    assert err.value.body["param"] == "input"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as err:
        await client.embeddings.create(model=MODEL, input=["x"] * 2049)
    assert err.value.code == "array_above_max_length"
    with pytest.raises(openai.BadRequestError) as err:
        await client.embeddings.create(model=MODEL, input="x", encoding_format="hex")  # type: ignore[arg-type]
    assert err.value.body["param"] == "encoding_format"  # type: ignore[index]
