"""The models this server serves, each with its runner and scheduler thread."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hearth.config import Settings
from hearth.engine.constraints import GrammarCompiler
from hearth.engine.llamacpp import LlamaCppRunner, RunnerConfig
from hearth.engine.prefix_cache import CacheConfig, PrefixCache
from hearth.engine.scheduler import Scheduler
from hearth.engine.weights import (
    ModelSource,
    bundled_chat_model,
    converted,
    file_digest,
    fingerprint,
    parse_model_spec,
)
from hearth.errors import ModelNotFound

log = logging.getLogger(__name__)

DEFAULT_CACHE_FLOOR = 256 * 2**20
"""The smallest default prompt-cache budget (bytes)."""


@dataclass
class ServedModel:
    """A loaded chat model: id, creation time (unix s), runner, scheduler and its
    grammar compiler (structured outputs)."""

    id: str
    created: int
    runner: LlamaCppRunner
    scheduler: Scheduler
    grammars: GrammarCompiler


def _runner_config(settings: Settings) -> RunnerConfig:
    return RunnerConfig(context_length=settings.context_length,
                        max_sequences=settings.max_sequences,
                        kv_cells=settings.kv_cache_tokens, batch_tokens=settings.batch_tokens,
                        threads=settings.threads, flash_attention=settings.flash_attention)


def _prompt_cache(runner: LlamaCppRunner, weights: Path, settings: Settings,
                  clock: Callable[[], float]) -> PrefixCache | None:
    if not settings.prompt_cache:
        return None
    mb = settings.prompt_cache_memory_mb
    budget = (int(mb * 2**20) if mb is not None
              else max(weights.stat().st_size, DEFAULT_CACHE_FLOOR))
    return PrefixCache(runner, CacheConfig(budget, settings.prompt_cache_idle_ttl,
                                           settings.prompt_cache_max_lifetime), clock)


def _load(source: ModelSource, settings: Settings, weight_format: str,
          clock: Callable[[], float]) -> ServedModel:
    config = _runner_config(settings)
    digest = file_digest(source.path)
    weights = converted(source.path, weight_format, settings.data_dir / "models", digest)
    fp = fingerprint(digest, f"{weight_format}|{config}")
    runner = LlamaCppRunner(str(weights), source.id, fp, config)
    # masks overlap the forward pass only where llama.cpp leaves a core free
    spare = (settings.threads or os.cpu_count() or 1) < (os.cpu_count() or 1)
    scheduler = Scheduler(runner, settings.batch_tokens, overlap_masks=spare,
                          cache=_prompt_cache(runner, weights, settings, clock))
    scheduler.start()
    log.info("loaded model %s (%s, %s weights) from %s", source.id, runner.info.description,
             weight_format, source.path)
    return ServedModel(source.id, int(source.path.stat().st_mtime), runner, scheduler,
                       GrammarCompiler(runner.grammar_tokenizer()))


class ModelRegistry:
    """Model id -> ``ServedModel``. Build with ``load(settings)``; ``close()`` stops all."""

    def __init__(self, models: list[ServedModel]) -> None:
        self._models = {m.id: m for m in models}

    @classmethod
    def load(cls, settings: Settings,
             clock: Callable[[], float] = time.monotonic) -> ModelRegistry:
        """Load the bundled model (converted per ``weight_format``) and every
        ``--model`` GGUF (served as given). Raises ``ValueError`` for a missing file.
        ``clock`` (seconds) times prompt-cache expiry; tests inject a fake one."""
        served = []
        if settings.bundled_models:
            served.append(_load(bundled_chat_model(), settings, settings.weight_format, clock))
        served += [_load(parse_model_spec(spec), settings, "original", clock)
                   for spec in settings.models]
        return cls(served)

    def get(self, model_id: str) -> ServedModel:
        """The model served as ``model_id``; raises ``ModelNotFound``."""
        try:
            return self._models[model_id]
        except KeyError:
            raise ModelNotFound(f"The model `{model_id}` does not exist or you do not have "
                                "access to it.", param="model") from None

    def list(self) -> list[ServedModel]:
        """All served models, in load order."""
        return list(self._models.values())

    def close(self) -> None:
        """Stop every scheduler thread and free llama.cpp memory."""
        for model in self._models.values():
            model.scheduler.stop()
            model.runner.close()
