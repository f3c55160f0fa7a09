"""``client.models.list`` / ``retrieve`` / ``delete`` (OpenAI API reference: Models).

Base and speech models are ``owned_by: "hearth"`` and visible to everyone; fine-tuned
models are ``owned_by`` their organization's id and exist only for that organization.
Objects are the SDK's ``Model`` (``shutdown_date: null``, as OpenAI sends for a model
with none announced) and ``ModelDeleted``; the list is ``{"object": "list", "data"}``.
"""

from __future__ import annotations

import asyncio
import builtins
from typing import Literal

from openai.types import Model, ModelDeleted
from pydantic import BaseModel

from hearth.audio.registry import AudioRegistry
from hearth.domain import Principal
from hearth.engine.registry import ModelRegistry
from hearth.engine.remote import RemoteModel
from hearth.errors import ModelNotFound, PermissionDenied
from hearth.retrieval.embeddings import EmbeddingRegistry


class ModelList(BaseModel):
    """``client.models.list``'s body, read by the SDK as a ``SyncPage[Model]`` (OpenAI
    sends no cursor fields: every model is on the one page)."""

    object: Literal["list"]
    data: builtins.list[Model]


class Models:
    """The models the caller's organization may use: the registry's chat models (base,
    then the organization's fine-tuned ones, loaded or not), then speech and embedding
    models."""

    def __init__(
        self, registry: ModelRegistry, audio: AudioRegistry, embeddings: EmbeddingRegistry
    ) -> None:
        self._registry = registry
        self._audio = audio
        self._embeddings = embeddings

    async def list(self, caller: Principal) -> ModelList:
        """Every model the caller's organization may use (the catalog read runs off
        the loop)."""
        models = await asyncio.to_thread(self._models, caller.organization_id)
        return ModelList(object="list", data=models)

    async def retrieve(self, caller: Principal, model_id: str) -> Model:
        """One model; ``ModelNotFound`` (404) also for another organization's."""
        for model in await asyncio.to_thread(self._models, caller.organization_id):
            if model.id == model_id:
                return model
        raise _not_found(model_id)

    async def delete(self, caller: Principal, model_id: str) -> ModelDeleted:
        """Delete one of the organization's fine-tuned models and unload it (off the loop:
        the catalog writes to disk and unloading joins the model's engine thread).
        Raises ``PermissionDenied`` (403) for a base or speech model, ``ModelNotFound``
        (404) for an unknown id or another organization's model."""
        deleted, adapter = await asyncio.to_thread(self._delete, caller.organization_id, model_id)
        if adapter is not None:  # a remote base's upstream holds it as a LoRA adapter
            await adapter.unload_adapter()
        return deleted

    def _models(self, organization_id: str) -> builtins.list[Model]:
        chat = [_model(m.id, m.created, m.owner) for m in self._registry.list(organization_id)]
        audio = [_model(m.id, m.created) for m in self._audio.models()]
        return chat + audio + [_model(m.id, m.created) for m in self._embeddings.models()]

    def _delete(
        self, organization_id: str, model_id: str
    ) -> tuple[ModelDeleted, RemoteModel | None]:
        fixed = {m.id for m in self._audio.models()} | {m.id for m in self._embeddings.models()}
        if any(m.id == model_id for m in self._registry.list()) or model_id in fixed:
            raise PermissionDenied(
                f"The model `{model_id}` is not a fine-tuned model of "
                "your organization; only those can be deleted.",
                param="model",
            )
        catalog = self._registry.catalog
        extra = catalog.resolve(model_id) if catalog else None
        if catalog is None or extra is None or extra.owner != organization_id:
            raise _not_found(model_id)
        adapter = self._registry.adapter_of(extra)
        if not catalog.delete(model_id, organization_id):
            raise _not_found(model_id)
        self._registry.forget(model_id)
        return ModelDeleted(id=model_id, object="model", deleted=True), adapter


def _not_found(model_id: str) -> ModelNotFound:
    return ModelNotFound(
        f"The model `{model_id}` does not exist or you do not have access to it.", param="model"
    )


def _model(model_id: str, created: int, owner: str | None = None) -> Model:
    return Model(
        id=model_id, object="model", created=created, owned_by=owner or "hearth", shutdown_date=None
    )
