"""``client.models.list`` / ``retrieve`` (OpenAI API reference: Models)."""

from __future__ import annotations

from openai.types import Model

from hearth.audio.registry import AudioRegistry
from hearth.engine.registry import ModelRegistry
from hearth.errors import ModelNotFound


def _model(model_id: str, created: int) -> Model:
    return Model(id=model_id, object="model", created=created, owned_by="hearth")


def list_models(registry: ModelRegistry, audio: AudioRegistry) -> list[Model]:
    """Every served model as an SDK ``Model``: chat models, then speech models."""
    return ([_model(m.id, m.created) for m in registry.list()]
            + [_model(m.id, m.created) for m in audio.models()])


def retrieve_model(registry: ModelRegistry, audio: AudioRegistry, model_id: str) -> Model:
    """One model; raises ``ModelNotFound``."""
    for model in list_models(registry, audio):
        if model.id == model_id:
            return model
    raise ModelNotFound(f"The model `{model_id}` does not exist or you do not have access "
                        "to it.", param="model")
