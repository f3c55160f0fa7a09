"""``client.embeddings.create`` (OpenAI API reference: Embeddings).

``input`` is a string, a list of strings, a list of token ids or a list of such lists
(ids of the serving model's own tokenizer: Hearth's models do not read cl100k ids). Every
input must fit the model (all-MiniLM-L6-v2 reads 254 tokens plus [CLS] and [SEP]): a
longer one is a 400 naming it, never silently truncated. ``usage`` counts the input
tokens, special tokens excluded. ``encoding_format: "base64"`` (what the Python SDK asks
for by default) is the little-endian float32 bytes of each vector.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Literal

import numpy as np
from openai.types import CreateEmbeddingResponse
from openai.types.create_embedding_response import Usage
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from hearth.domain import Principal
from hearth.errors import ContextLengthExceeded, InvalidRequest, array_above_max_length
from hearth.retrieval.embeddings import EmbeddingEngine, EmbeddingRegistry
from hearth.services.rate_limits import RateLimiter, admit
from hearth.services.usage import UsageMeter

MAX_INPUTS = 2048
"""Inputs in one request (OpenAI's limit)."""
MAX_REQUEST_TOKENS = 300_000
"""Tokens summed over all inputs of one request (OpenAI's limit)."""


class EmbeddingParams(BaseModel):
    """The request body of ``POST /v1/embeddings``."""

    model_config = ConfigDict(extra="forbid")

    input: StrictStr | list[StrictStr] | list[StrictInt] | list[list[StrictInt]]
    model: StrictStr
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(default=None, ge=1)
    user: StrictStr | None = None


class EmbeddingOut(BaseModel):
    """``Embedding`` with a base64 string allowed (the SDK's type says floats only)."""

    embedding: list[float] | str
    index: int
    object: Literal["embedding"] = "embedding"


class EmbeddingsOut(BaseModel):
    """``CreateEmbeddingResponse`` holding ``EmbeddingOut`` items."""

    data: list[EmbeddingOut]
    model: str
    object: Literal["list"] = "list"
    usage: Usage


class Embeddings:
    """Embeddings over an ``EmbeddingRegistry``."""

    def __init__(
        self,
        registry: EmbeddingRegistry,
        meter: UsageMeter | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self._registry = registry
        self._meter = meter
        self._limiter = limiter

    async def create(self, caller: Principal, params: EmbeddingParams) -> EmbeddingsOut:
        """One vector per input, in order. Raises ``ModelNotFound`` (404), and
        ``InvalidRequest`` (400) for an empty input, over 2,048 inputs, an id outside the
        vocabulary, an input over the model's length (``context_length_exceeded``), over
        300,000 tokens in all, or ``dimensions`` the model does not offer."""
        engine = self._registry.get(params.model)
        tokens = await asyncio.to_thread(_tokens, engine, params.input)
        model = engine.model
        if params.dimensions is not None and params.dimensions != model.dimensions:
            raise InvalidRequest(
                f"Invalid value for 'dimensions': the model `{params.model}` produces "
                f"{model.dimensions}-dimensional vectors and cannot shorten them.",
                param="dimensions",
            )
        used = sum(len(t) for t in tokens)
        await admit(self._limiter, caller, params.model, used)
        vectors = await engine.embed(tokens)
        if self._meter is not None:
            self._meter.record(caller, "embeddings", params.model, input_tokens=used)
        data = [
            EmbeddingOut(embedding=_encode(v, params.encoding_format), index=i, object="embedding")
            for i, v in enumerate(vectors)
        ]
        return EmbeddingsOut(
            data=data,
            model=params.model,
            object="list",
            usage=Usage(prompt_tokens=used, total_tokens=used),
        )


def _tokens(
    engine: EmbeddingEngine, raw: str | list[str] | list[int] | list[list[int]]
) -> list[list[int]]:
    """Token ids of every input, checked against the model's limits (loads the model)."""
    model = engine.model
    items: list[str] | list[list[int]]
    if isinstance(raw, str):
        items = [raw]
    elif raw and all(isinstance(x, int) for x in raw):
        items = [[x for x in raw if isinstance(x, int)]]
    else:
        items = raw  # type: ignore[assignment]
    if not items:
        raise InvalidRequest("'$.input' is invalid: it must not be empty.", param="input")
    if len(items) > MAX_INPUTS:
        raise array_above_max_length("input", MAX_INPUTS, len(items))
    for i, item in enumerate(items):
        if len(item) == 0:
            param = "input" if isinstance(raw, str) else f"input[{i}]"
            raise InvalidRequest(f"'$.{param}' is invalid: it must not be empty.", param=param)
    texts = [x for x in items if isinstance(x, str)]
    encoded = iter(model.tokenize(texts)) if texts else iter(())
    tokens = [next(encoded) if isinstance(x, str) else list(x) for x in items]
    total = 0
    for i, ids in enumerate(tokens):
        param = "input" if isinstance(raw, str) or len(items) == 1 else f"input[{i}]"
        if any(t < 0 or t >= model.vocab_size for t in ids):
            raise InvalidRequest(
                f"Invalid '{param}': token ids must be in [0, {model.vocab_size}) for the "
                f"model `{engine.id}`.",
                param=param,
            )
        if len(ids) > model.max_input_tokens:
            raise ContextLengthExceeded(
                f"This model's maximum context length is {model.max_input_tokens} tokens, "
                f"however you requested {len(ids)} tokens ({len(ids)} in your prompt; 0 for "
                "the completion). Please reduce your prompt; or completion length.",
                param=param,
            )
        total += len(ids)
    if total > MAX_REQUEST_TOKENS:
        raise InvalidRequest(
            f"Requested {total} tokens, max {MAX_REQUEST_TOKENS} tokens per request.",
            param="input",
            code="max_tokens_per_request",
        )
    return tokens


def _encode(vector: np.ndarray, encoding_format: str) -> list[float] | str:
    if encoding_format == "base64":
        return base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii")
    return [float(x) for x in vector]


def as_sdk(out: EmbeddingsOut) -> CreateEmbeddingResponse:
    """The float-encoded response as the SDK's type (contract tests)."""
    return CreateEmbeddingResponse.model_validate(out.model_dump())
