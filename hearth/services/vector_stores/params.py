"""Request bodies of the vector store endpoints, checked as OpenAI's reference states."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    Tag,
    model_validator,
)

from hearth.retrieval.chunking import AUTO_MAX_TOKENS, AUTO_OVERLAP_TOKENS
from hearth.retrieval.filters import ComparisonFilter, CompoundFilter
from hearth.services.chat.metadata import Metadata

MAX_ATTRIBUTES = 16


def _attributes(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    if len(value) > MAX_ATTRIBUTES:
        raise ValueError(f"at most {MAX_ATTRIBUTES} attributes are allowed, got {len(value)}")
    for key, item in value.items():
        if len(key) > 64:
            raise ValueError(f"attribute key {key[:64]!r}... is longer than 64 characters")
        if isinstance(item, str) and len(item) > 512:
            raise ValueError(f"the value of {key!r} is longer than 512 characters")
    return value


Attributes = Annotated[
    dict[StrictStr, StrictStr | StrictBool | StrictInt | StrictFloat] | None,
    AfterValidator(_attributes),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StaticChunking(_Strict):
    """``max_chunk_size_tokens`` 100-4096, ``chunk_overlap_tokens`` at most half of it."""

    max_chunk_size_tokens: int = Field(ge=100, le=4096)
    chunk_overlap_tokens: int = Field(ge=0)

    @model_validator(mode="after")
    def _overlap(self) -> StaticChunking:
        if self.chunk_overlap_tokens > self.max_chunk_size_tokens // 2:
            raise ValueError("chunk_overlap_tokens must not exceed half of max_chunk_size_tokens")
        return self


class StaticStrategy(_Strict):
    type: Literal["static"]
    static: StaticChunking


class AutoStrategy(_Strict):
    type: Literal["auto"]


def _strategy_tag(value: Any) -> str | None:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return {"auto": "Auto", "static": "Static"}.get(kind) if isinstance(kind, str) else None


# capitalised tags: hearth.errors.json_path leaves them out of the error's ``param``
ChunkingStrategy = Annotated[
    Annotated[AutoStrategy, Tag("Auto")] | Annotated[StaticStrategy, Tag("Static")],
    Discriminator(
        _strategy_tag,
        custom_error_type="invalid_chunking_strategy",
        custom_error_message="chunking_strategy.type must be 'auto' or 'static'",
    ),
]


def resolved(strategy: AutoStrategy | StaticStrategy | None) -> dict[str, Any]:
    """The strategy as a file shows it: ``auto`` becomes OpenAI's static 800 / 400."""
    if isinstance(strategy, StaticStrategy):
        return strategy.model_dump()
    return {
        "type": "static",
        "static": {
            "max_chunk_size_tokens": AUTO_MAX_TOKENS,
            "chunk_overlap_tokens": AUTO_OVERLAP_TOKENS,
        },
    }


class ExpiresAfter(_Strict):
    anchor: Literal["last_active_at"]
    days: int = Field(ge=1, le=365)


class CreateParams(_Strict):
    """``vector_stores.create``."""

    name: StrictStr | None = None
    description: StrictStr | None = None
    file_ids: list[StrictStr] | None = Field(default=None, max_length=500)
    chunking_strategy: ChunkingStrategy | None = None
    expires_after: ExpiresAfter | None = None
    metadata: Metadata = None


class UpdateParams(_Strict):
    """``vector_stores.update``: a field sent as null clears it."""

    name: StrictStr | None = None
    expires_after: ExpiresAfter | None = None
    metadata: Metadata = None


class FileCreateParams(_Strict):
    """``vector_stores.files.create``."""

    file_id: StrictStr
    attributes: Attributes = None
    chunking_strategy: ChunkingStrategy | None = None


class FileUpdateParams(_Strict):
    """``vector_stores.files.update``."""

    attributes: Attributes


class BatchFile(_Strict):
    file_id: StrictStr
    attributes: Attributes = None
    chunking_strategy: ChunkingStrategy | None = None


class BatchCreateParams(_Strict):
    """``vector_stores.file_batches.create``: ``file_ids`` (sharing ``attributes`` and
    ``chunking_strategy``) or ``files`` (each its own), not both."""

    file_ids: list[StrictStr] | None = Field(default=None, min_length=1, max_length=2000)
    files: list[BatchFile] | None = Field(default=None, min_length=1, max_length=2000)
    attributes: Attributes = None
    chunking_strategy: ChunkingStrategy | None = None

    @model_validator(mode="after")
    def _one_list(self) -> BatchCreateParams:
        if (self.file_ids is None) == (self.files is None):
            raise ValueError("exactly one of 'file_ids' and 'files' must be given")
        return self


class HybridSearch(_Strict):
    embedding_weight: float = Field(ge=0)
    text_weight: float = Field(ge=0)


class RankingOptions(_Strict):
    """``ranker`` and ``score_threshold`` (0-1); ``hybrid_search`` weights the two
    rankings (the Responses tool's option, accepted here too)."""

    ranker: Literal["none", "auto", "default-2024-11-15"] = "auto"
    score_threshold: float = Field(default=0.0, ge=0, le=1)
    hybrid_search: HybridSearch | None = None


class SearchParams(_Strict):
    """``vector_stores.search``."""

    query: StrictStr | list[StrictStr]
    filters: ComparisonFilter | CompoundFilter | None = None
    max_num_results: int = Field(default=10, ge=1, le=50)
    ranking_options: RankingOptions | None = None
    rewrite_query: bool = False
