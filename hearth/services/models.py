"""``client.models.list`` / ``retrieve`` (OpenAI API reference: Models)."""

from __future__ import annotations

from openai.types import Model

from hearth.engine.registry import ModelRegistry, ServedModel


def _model(served: ServedModel) -> Model:
    return Model(id=served.id, object="model", created=served.created, owned_by="hearth")


def list_models(registry: ModelRegistry) -> list[Model]:
    """Every served model as an SDK ``Model``."""
    return [_model(m) for m in registry.list()]


def retrieve_model(registry: ModelRegistry, model_id: str) -> Model:
    """One model; raises ``ModelNotFound``."""
    return _model(registry.get(model_id))
