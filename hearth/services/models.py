"""``client.models.list`` / ``retrieve`` / ``delete`` (OpenAI API reference: Models).

Base and speech models are ``owned_by: "hearth"`` and visible to everyone; fine-tuned
models are ``owned_by`` their organization's id and exist only for that organization.
"""

from __future__ import annotations

import asyncio

from openai.types import Model, ModelDeleted

from hearth.audio.registry import AudioRegistry
from hearth.engine.registry import ModelRegistry
from hearth.errors import ModelNotFound, PermissionDenied


def _not_found(model_id: str) -> ModelNotFound:
    return ModelNotFound(f"The model `{model_id}` does not exist or you do not have access "
                         "to it.", param="model")


def _model(model_id: str, created: int, owner: str | None = None) -> Model:
    return Model(id=model_id, object="model", created=created, owned_by=owner or "hearth")


def list_models(registry: ModelRegistry, audio: AudioRegistry,
                organization_id: str | None = None) -> list[Model]:
    """Every model the organization may use as an SDK ``Model``: base chat models, its
    fine-tuned models (loaded or not), then speech models."""
    return ([_model(m.id, m.created, m.owner) for m in registry.list(organization_id)]
            + [_model(m.id, m.created) for m in audio.models()])


def retrieve_model(registry: ModelRegistry, audio: AudioRegistry, model_id: str,
                   organization_id: str | None = None) -> Model:
    """One model; raises ``ModelNotFound`` (also for another organization's model)."""
    for model in list_models(registry, audio, organization_id):
        if model.id == model_id:
            return model
    raise _not_found(model_id)


def _delete(registry: ModelRegistry, audio: AudioRegistry, model_id: str,
            organization_id: str) -> ModelDeleted:
    if any(m.id == model_id for m in registry.list()) or model_id in {
            m.id for m in audio.models()}:
        raise PermissionDenied(f"The model `{model_id}` is not a fine-tuned model of your "
                               "organization; only those can be deleted.", param="model")
    catalog = registry.catalog
    extra = catalog.resolve(model_id) if catalog else None
    if catalog is None or extra is None or extra.owner != organization_id:
        raise _not_found(model_id)
    if not catalog.delete(model_id, organization_id):
        raise _not_found(model_id)
    registry.forget(model_id)
    return ModelDeleted(id=model_id, object="model", deleted=True)


async def delete_model(registry: ModelRegistry, audio: AudioRegistry, model_id: str,
                       organization_id: str) -> ModelDeleted:
    """Delete one of the organization's fine-tuned models and unload it (off the loop:
    the catalog writes to disk and unloading joins the model's engine thread).
    Raises ``PermissionDenied`` (403) for a base or speech model, ``ModelNotFound`` (404)
    for an unknown id or another organization's model."""
    return await asyncio.to_thread(_delete, registry, audio, model_id, organization_id)
