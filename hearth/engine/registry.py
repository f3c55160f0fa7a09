"""The models this server serves (``ServedModel``s), each with its own engine thread.

Base models are visible to every organization: the bundled chat model and ``--model``
files load at start, the bundled base model (gemma-3-270m) on first use, so that serving
it costs nothing until it is asked for. Fine-tuned models come from a ``ModelCatalog``:
each is visible only to its organization, loads on first use and is unloaded again when
it is the least recently used of more than ``finetuned_models_loaded``
(docs/fine-tuning.md)."""

from __future__ import annotations

import asyncio
import builtins
import dataclasses
import functools
import hashlib
import json
import logging
import math
import os
import shutil
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, overload

from hearth.config import EngineSettings
from hearth.engine.constraints import GrammarCompiler
from hearth.engine.llamacpp import LlamaCppRunner, RunnerConfig
from hearth.engine.prefix_cache import CacheConfig, PrefixCache
from hearth.engine.remote import Adapter, RemoteModel
from hearth.engine.scheduler import Scheduler
from hearth.engine.served import LocalModel, ServedModel
from hearth.engine.speculation import SpeculativeConfig
from hearth.engine.weights import (
    BUNDLED_BASE_MODEL,
    ModelSource,
    bundled_base_created,
    bundled_base_installed,
    bundled_base_model,
    bundled_chat_model,
    converted,
    file_digest,
    fingerprint,
    parse_model_spec,
)
from hearth.errors import ModelNotFound, ServiceUnavailable

log = logging.getLogger(__name__)

DEFAULT_CACHE_FLOOR = 256 * 2**20
"""The smallest default prompt-cache budget (bytes)."""

FINETUNED_SHARE = 4
"""A fine-tuned model gets 1/4 of the base's KV cells (at least ``context_length``) and
of its prompt-cache memory: several may be loaded beside the base."""

HANDOFF_SECONDS = 10.0
"""A model handed out this recently may still be preparing a request it has not yet
submitted (tokenizing, compiling a grammar), so it is not unloaded."""


@dataclass
class ExtraModel:
    """A fine-tuned model a ``ModelCatalog`` knows: id, GGUF ``path``, ``owner``
    (organization id) and ``created`` (unix s); ``base``: the model it was tuned from,
    and ``adapter``: its LoRA adapter's location as a remote base's upstream reads it
    (served there as an adapter when ``base`` is a vLLM ``RemoteModel``)."""

    id: str
    path: Path
    owner: str
    created: int
    base: str | None = None
    adapter: str | None = None


def no_chat_template(model_id: str) -> str:
    """The chat template of a base model whose GGUF has none: rendering it raises, a 400
    naming ``messages`` (hearth.engine.chat_format), instead of the ChatML fallback that
    the model never learned."""
    message = (
        f"`{model_id}` is a base model without a chat template: send it raw text with the "
        "Completions API (client.completions.create)."
    )
    return "{{ raise_exception(" + json.dumps(message) + ") }}"


@dataclass(frozen=True)
class LazyModel:
    """A base model listed from the start and loaded on first use: ``id``, ``created``
    (unix s) and ``locate``, which finds (or first assembles) its weights; ``owner`` is
    None as for every base model. ``chat``: False for a model not trained to chat, whose
    chat requests are refused unless its GGUF brings a template."""

    id: str
    created: int
    locate: Callable[[], ModelSource]
    chat: bool = True
    owner: None = None


class ModelCatalog(Protocol):
    """Where fine-tuned models are recorded (the fine-tuning service implements it)."""

    def resolve(self, model_id: str) -> ExtraModel | None:
        """The model with this id, whatever its owner; None if there is none."""
        ...

    def list(self, organization_id: str) -> list[ExtraModel]:
        """The organization's models, in the order ``/v1/models`` lists them."""
        ...

    def delete(self, model_id: str, organization_id: str) -> bool:
        """Delete the organization's model; False if it has none with this id."""
        ...


def _not_found(model_id: str) -> ModelNotFound:
    return ModelNotFound(
        f"The model `{model_id}` does not exist or you do not have access to it.", param="model"
    )


def _runner_config(settings: EngineSettings, share: int) -> RunnerConfig:
    return RunnerConfig(
        context_length=settings.context_length,
        max_sequences=settings.max_sequences,
        kv_cells=max(settings.kv_cache_tokens // share, settings.context_length),
        batch_tokens=settings.batch_tokens,
        threads=settings.threads,
        flash_attention=settings.flash_attention,
    )


def _prompt_cache(
    runner: LlamaCppRunner,
    weights: Path,
    settings: EngineSettings,
    clock: Callable[[], float],
    share: int,
) -> PrefixCache | None:
    if not settings.prompt_cache:
        return None
    mb = settings.prompt_cache_memory_mb
    budget = int(mb * 2**20) if mb is not None else max(weights.stat().st_size, DEFAULT_CACHE_FLOOR)
    return PrefixCache(
        runner,
        CacheConfig(
            budget // share,
            settings.prompt_cache_idle_ttl,
            settings.prompt_cache_max_lifetime,
            settings.prompt_cache_exact,
        ),
        clock,
    )


def _load(
    source: ModelSource,
    settings: EngineSettings,
    weight_format: str,
    clock: Callable[[], float],
    extra: ExtraModel | None = None,
    cache_dir: Path | None = None,
    created: int | None = None,
    chat: bool = True,
) -> ServedModel:
    """Convert (once, into ``cache_dir``), load and start one model; a catalog model
    (``extra``) gets the smaller ``FINETUNED_SHARE`` budgets. ``created`` (unix s)
    defaults to the catalog's, else the source file's mtime; ``chat`` False refuses chat
    when the GGUF has no template (``no_chat_template``)."""
    share = FINETUNED_SHARE if extra else 1
    config = _runner_config(settings, share)
    digest = source.digest or file_digest(source.path)
    weights = converted(source.path, weight_format, cache_dir or settings.model_cache_dir, digest)
    fp = fingerprint(digest, f"{weight_format}|{config}|draft={settings.speculative_tokens}")
    runner = LlamaCppRunner(str(weights), source.id, fp, config)
    if not chat and runner.info.chat_template is None:
        runner.info = dataclasses.replace(runner.info, chat_template=no_chat_template(source.id))
    # masks overlap the forward pass only where llama.cpp leaves a core free
    spare = (settings.threads or os.cpu_count() or 1) < (os.cpu_count() or 1)
    scheduler = Scheduler(
        runner,
        settings.batch_tokens,
        settings.max_waiting,
        overlap_masks=spare,
        cache=_prompt_cache(runner, weights, settings, clock, share),
        speculative=SpeculativeConfig(draft_tokens=settings.speculative_tokens),
    )
    scheduler.start()
    log.info(
        "loaded model %s (%s, %s weights) from %s",
        source.id,
        runner.info.description,
        weight_format,
        source.path,
    )
    if created is None:
        created = extra.created if extra else int(source.path.stat().st_mtime)
    return LocalModel(
        source.id,
        created,
        runner,
        scheduler,
        GrammarCompiler(runner.grammar_tokenizer()),
        source.path,
        extra.owner if extra else None,
    )


def _unload(models: list[ServedModel]) -> None:
    for model in models:
        model.close()
        if model.owner is not None:
            log.info("unloaded model %s", model.id)


class ModelRegistry:
    """Model id -> ``ServedModel``. Build with ``load(settings)``; ``close()`` stops all.

    Thread-safe: ``get`` may be called from several threads at once; a lazy base model
    or a catalog model is loaded by the first caller while the others wait for it.
    """

    def __init__(
        self,
        models: list[ServedModel],
        settings: EngineSettings,
        clock: Callable[[], float] = time.monotonic,
        lazy: Sequence[LazyModel] = (),
    ) -> None:
        self._models = {m.id: m for m in models}
        # base models in listing order; a lazy one stays listed (unloaded) until first use
        self._base_ids = [*self._models, *(m.id for m in lazy if m.id not in self._models)]
        self._lazy = {m.id: m for m in lazy}
        self._settings = settings
        self._clock = clock
        self._catalog: ModelCatalog | None = None
        self._lock = threading.Lock()
        self._extra: OrderedDict[str, ServedModel] = OrderedDict()  # least recent first
        self._handed: dict[str, float] = {}  # id -> clock() when ``get`` last returned it
        self._loading: dict[str, Future[ServedModel]] = {}
        self._forgotten: set[str] = set()  # ids forgotten while loading
        self._retired: list[tuple[ServedModel, float]] = []  # unload once idle
        self._adapters: dict[str, RemoteModel] = {}  # fine-tuned models of remote bases
        self._closed = False

    @classmethod
    def load(
        cls, settings: EngineSettings, clock: Callable[[], float] = time.monotonic
    ) -> ModelRegistry:
        """Load the bundled chat model (converted per ``weight_format``) and every
        ``--model`` GGUF (served as given); list the bundled base model, if its package is
        installed, to load on first use. Raises ``ValueError`` for a missing file, or a
        remote model whose ``weights`` is not one of these local models.
        ``clock`` (seconds) times prompt-cache expiry and unloading; tests inject a fake."""
        served = []
        lazy = []
        if settings.bundled_models:
            served.append(_load(bundled_chat_model(), settings, settings.weight_format, clock))
            if bundled_base_installed():
                cache = settings.model_cache_dir
                locate = functools.partial(bundled_base_model, cache)
                created = bundled_base_created()
                lazy.append(LazyModel(BUNDLED_BASE_MODEL, created, locate, chat=False))
        served += [
            _load(parse_model_spec(spec), settings, "original", clock) for spec in settings.models
        ]
        started = int(time.time())
        local = {m.id for m in served} | {m.id for m in lazy}
        for spec in settings.remote_models:
            if spec.weights is not None and spec.weights not in local:
                raise ValueError(
                    f"remote model {spec.id!r} names weights {spec.weights!r}, which is not "
                    f"a model served here (local models: {', '.join(sorted(local)) or 'none'})"
                )
        served += [RemoteModel(spec, started) for spec in settings.remote_models]
        return cls(served, settings, clock, lazy)

    @property
    def catalog(self) -> ModelCatalog | None:
        """The fine-tuned model catalog, if one is set."""
        return self._catalog

    def set_catalog(self, catalog: ModelCatalog | None) -> None:
        """Serve ``catalog``'s models beside the base models (None: stop looking them up;
        loaded ones stay until ``forget``)."""
        self._catalog = catalog

    def get(self, model_id: str, organization_id: str | None = None) -> ServedModel:
        """The model served as ``model_id`` to ``organization_id``. A lazy base model or
        a catalog model is loaded on first use, converted like the bundled chat model
        (``weight_format``): this blocks for ~1 s (the first time ever: ~5 s for
        gemma-3-270m, assembled and converted), so async callers use ``aget``. Raises
        ``ModelNotFound`` for an unknown id and for another organization's model (the
        same message), ``ServiceUnavailable`` after ``close``, ``InternalError`` when a
        lazy model's weights cannot be found."""
        if (base := self._models.get(model_id)) is not None:
            return base
        if (lazy := self._lazy.get(model_id)) is not None:
            return self._load_lazy(lazy)
        with self._lock:
            served = self._resident(model_id, organization_id)
        if served is not None:
            _unload(self._trim())
            return served
        catalog = self._catalog
        extra = catalog.resolve(model_id) if catalog else None
        if extra is None or extra.owner != organization_id:
            raise _not_found(model_id)
        remote = self._remote_adapter(extra)
        if remote is not None:
            return remote
        return self._load_once(extra)

    async def aget(self, model_id: str, organization_id: str | None = None) -> ServedModel:
        """``get`` for the event loop: a loaded model is returned at once; loading and
        unloading run on a worker thread (``asyncio.to_thread``)."""
        served = self._models.get(model_id)
        if served is None and (remote := self._adapters.get(model_id)) is not None:
            if remote.owner != organization_id:
                raise _not_found(model_id)
            return remote
        if served is None:
            with self._lock:
                served = self._resident(model_id, organization_id)
        if served is None:
            return await asyncio.to_thread(self.get, model_id, organization_id)
        if self._retired or len(self._extra) > self._settings.finetuned_models_loaded:
            await asyncio.to_thread(lambda: _unload(self._trim()))
        return served

    @overload
    def list(self) -> list[ServedModel | LazyModel]: ...

    @overload
    def list(self, organization_id: str | None) -> list[ServedModel | LazyModel | ExtraModel]: ...

    def list(
        self,
        organization_id: str | None = None,
    ) -> list[ServedModel | LazyModel] | list[ServedModel | LazyModel | ExtraModel]:
        """The base models (loaded at start, then lazy ones, loaded or not), then (given
        an organization) that organization's catalog models, loaded or not, in the
        catalog's order."""
        base: builtins.list[ServedModel | LazyModel] = [
            self._models.get(i) or self._lazy[i] for i in self._base_ids
        ]
        if organization_id is None or self._catalog is None:
            return base
        both: builtins.list[ServedModel | LazyModel | ExtraModel] = [
            *base,
            *self._catalog.list(organization_id),
        ]
        return both

    def loaded(self) -> builtins.list[ServedModel]:
        """Every model in memory now: the base models, then loaded catalog models
        (least recently used first)."""
        with self._lock:
            return [*self._models.values(), *self._extra.values(), *self._adapters.values()]

    def forget(self, model_id: str) -> None:
        """Unload a catalog model (at once, or when the requests it is serving end) and
        delete its converted weights; a load under way is discarded. No-op otherwise."""
        with self._lock:
            self._adapters.pop(model_id, None)
            served = self._extra.pop(model_id, None)
            handed = self._handed.pop(model_id, -math.inf)
            if served is not None:
                self._retired.append((served, handed))
            if model_id in self._loading:
                self._forgotten.add(model_id)
        _unload(self._trim())
        shutil.rmtree(self._cache_dir(model_id), ignore_errors=True)

    def close(self) -> None:
        """Close every model (engine threads stopped, llama.cpp memory freed)."""
        with self._lock:
            self._closed = True
            models = [*self._models.values(), *self._extra.values(), *(m for m, _ in self._retired)]
            self._extra.clear()
            self._retired.clear()
        _unload(models)

    # internals -------------------------------------------------------------------
    def adapter_of(self, extra: ExtraModel) -> RemoteModel | None:
        """A catalog model tuned from a vLLM remote base, as that upstream's LoRA adapter
        (loaded there on first use, unloaded with ``RemoteModel.unload_adapter``); None
        for a model Hearth serves itself or whose base cannot load adapters."""
        base = self._models.get(extra.base or "")
        if not isinstance(base, RemoteModel) or extra.adapter is None or base.flavor != "vllm":
            return None
        with self._lock:
            served = self._adapters.get(extra.id)
            if served is None:
                served = base.with_adapter(
                    Adapter(extra.id, extra.adapter), extra.owner, extra.created
                )
                self._adapters[extra.id] = served
        return served

    def _remote_adapter(self, extra: ExtraModel) -> RemoteModel | None:
        """``adapter_of``, raising ``ServiceUnavailable`` for a model tuned from a remote
        base that cannot load adapters; None for a model Hearth serves itself."""
        base = self._models.get(extra.base or "")
        if not isinstance(base, RemoteModel) or extra.adapter is None:
            return None
        if base.flavor != "vllm":
            raise ServiceUnavailable(
                f"The model `{extra.id}` needs its LoRA adapter loaded on the upstream of "
                f"`{base.id}`, which only a vLLM upstream does.",
                code="upstream_error",
            )
        return self.adapter_of(extra)

    def _cache_dir(self, model_id: str) -> Path:
        """Where a catalog model's converted weights live (one folder per model id, so
        ``forget`` can delete them even after a restart)."""
        key = hashlib.sha256(model_id.encode()).hexdigest()[:16]
        return self._settings.data_dir / "models" / "finetuned" / key

    def _resident(self, model_id: str, organization_id: str | None) -> ServedModel | None:
        """A loaded catalog model, marked used (caller holds the lock)."""
        served = self._extra.get(model_id)
        if served is None:
            return None
        if served.owner != organization_id:
            raise _not_found(model_id)
        self._extra.move_to_end(model_id)
        self._handed[model_id] = self._clock()
        return served

    def _load_lazy(self, lazy: LazyModel) -> ServedModel:
        """Load a lazy base model once (converted per ``weight_format``, as the bundled
        chat model); callers that come meanwhile wait for it."""
        with self._lock:
            if (served := self._models.get(lazy.id)) is not None:
                return served
            if self._closed:
                raise ServiceUnavailable("The engine is shutting down.")
            waiting = self._loading.get(lazy.id)
            if waiting is None:
                future = self._loading[lazy.id] = Future()
        if waiting is not None:
            return waiting.result()
        try:
            served = _load(
                lazy.locate(),
                self._settings,
                self._settings.weight_format,
                self._clock,
                created=lazy.created,
                chat=lazy.chat,
            )
        except BaseException as exc:
            with self._lock:
                del self._loading[lazy.id]
            future.set_exception(exc)
            raise
        with self._lock:
            del self._loading[lazy.id]
            closed = self._closed
            if not closed:
                self._models[lazy.id] = served
        if closed:
            _unload([served])
            error = ServiceUnavailable("The engine is shutting down.")
            future.set_exception(error)
            raise error
        future.set_result(served)
        return served

    def _load_once(self, extra: ExtraModel) -> ServedModel:
        with self._lock:
            if (served := self._resident(extra.id, extra.owner)) is not None:
                return served
            waiting = self._loading.get(extra.id)
            if waiting is None:
                future = self._loading[extra.id] = Future()
        if waiting is not None:  # another caller is loading it
            served = waiting.result()
            with self._lock:
                self._handed[extra.id] = self._clock()
            return served
        _unload(self._trim(room=1))
        try:
            served = _load(
                ModelSource(extra.id, extra.path),
                self._settings,
                self._settings.weight_format,
                self._clock,
                extra,
                self._cache_dir(extra.id),
            )
        except BaseException as exc:
            with self._lock:
                del self._loading[extra.id]
                self._forgotten.discard(extra.id)
            future.set_exception(exc)
            raise
        with self._lock:
            del self._loading[extra.id]
            error: Exception | None = None
            if self._closed:
                error = ServiceUnavailable("The engine is shutting down.")
            elif extra.id in self._forgotten:
                self._forgotten.discard(extra.id)
                error = _not_found(extra.id)
            else:
                self._extra[extra.id] = served
                self._handed[extra.id] = self._clock()
        if error is not None:
            _unload([served])
            future.set_exception(error)
            raise error
        future.set_result(served)
        _unload(self._trim())
        return served

    def _trim(self, room: int = 0) -> builtins.list[ServedModel]:
        """Take out the models to unload now: retired ones that went idle, then idle
        catalog models beyond the limit (less ``room`` for one about to load), least
        recently used first. Busy ones stay (over the limit for a while) and are tried
        again on the next ``get``/``aget``."""
        with self._lock:
            now = self._clock()
            doomed = [m for m, at in self._retired if self._idle(m, at, now)]
            self._retired = [(m, at) for m, at in self._retired if not any(m is d for d in doomed)]
            excess = len(self._extra) + room - self._settings.finetuned_models_loaded
            for model_id, served in list(self._extra.items()):
                if excess <= 0:
                    break
                if self._idle(served, self._handed.get(model_id, -math.inf), now):
                    del self._extra[model_id]
                    del self._handed[model_id]
                    doomed.append(served)
                    excess -= 1
            return doomed

    @staticmethod
    def _idle(served: ServedModel, handed: float, now: float) -> bool:
        """No job queued or running, and not handed out within ``HANDOFF_SECONDS``
        (a job submitted since shows in the stats within one engine step)."""
        stats = served.stats
        return (
            not stats.active_requests
            and not stats.waiting_requests
            and now - handed >= HANDOFF_SECONDS
        )
