"""Chat models served by an OpenAI-compatible upstream (vLLM, SGLang, llama.cpp's
llama-server) instead of the embedded engine (docs/remote-engines.md).

``RemoteModel`` is a ``ServedModel`` to the registry (listed, resolved, counted, closed
like any model), but it has no tokenizer, grammar compiler or scheduler here: the chat
and completions services see ``isinstance(served, RemoteModel)`` and send the request's
API semantics upstream through ``open``/``post`` instead of calling ``generate``.

Transport: httpx2, one ``AsyncClient`` (connection pool) per event loop, since pooled
connections belong to the loop that opened them. Upstream failures become Hearth's
OpenAI-shaped errors: unreachable, timed out or a 5xx -> 503 ``ServiceUnavailable``; a
4xx -> the same status with the upstream's message (a 401 excepted: it says Hearth's
credentials for the upstream are wrong, not the caller's, so it is a 503 too).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import os
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import httpx2

from hearth.config import RemoteModelConfig
from hearth.engine.constraints import Grammar
from hearth.engine.runner import ModelInfo
from hearth.engine.scheduler import EngineStats
from hearth.engine.sequence import GenerationHandle, GenerationRequest
from hearth.errors import HearthError, InvalidRequest, RateLimited, ServiceUnavailable

log = logging.getLogger(__name__)


@functools.cache
def _status_error(status: int) -> type[HearthError]:
    """An error class answering with ``status`` (a 4xx passed through from upstream)."""
    return type(
        f"Upstream{status}",
        (HearthError,),
        {"status_code": status, "error_type": "invalid_request_error"},
    )


def upstream_message(body: bytes) -> str:
    """The message of an upstream's error body: OpenAI's ``{"error": {"message"}}``,
    vLLM's older ``{"message"}``, FastAPI's ``{"detail"}``, else the text itself."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace").strip()[:1000]
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
        if isinstance(error, str):
            return error
        for key in ("message", "detail"):
            if isinstance(data.get(key), str):
                return str(data[key])
    return json.dumps(data)[:1000]


def upstream_error(model_id: str, status: int, body: bytes) -> HearthError:
    """The error a client sees for an upstream's ``status`` answer with ``body``."""
    message = upstream_message(body)
    if status == 429:
        return RateLimited(message or "The upstream engine is overloaded.")
    if status == 401 or status >= 500 or status < 400:
        return ServiceUnavailable(
            f"The upstream engine of `{model_id}` failed (HTTP {status}): {message}",
            code="upstream_error",
        )
    return _status_error(status)(message or f"The upstream engine refused the request ({status}).")


@dataclass(frozen=True)
class Adapter:
    """A LoRA adapter a vLLM upstream loads (``POST /v1/load_lora_adapter``): requests
    then name ``name``; ``path`` is where the upstream finds the adapter's files."""

    name: str
    path: str


class _Pool:
    """One ``httpx2.AsyncClient`` per event loop, shared by a model and its adapters."""

    def __init__(self, config: RemoteModelConfig) -> None:
        self._config = config
        key = os.environ.get(config.api_key_env) if config.api_key_env else None
        self._headers = {"Authorization": f"Bearer {key}"} if key else None
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx2.AsyncClient]
        self._clients = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def client(self) -> httpx2.AsyncClient:
        loop = asyncio.get_running_loop()
        with self._lock:
            client = self._clients.get(loop)
            if client is None:
                config = self._config
                client = httpx2.AsyncClient(
                    base_url=config.base_url.rstrip("/") + "/",
                    headers=self._headers,
                    timeout=httpx2.Timeout(config.timeout, connect=config.connect_timeout),
                    # llama-server drops idle connections after 5 s: never reuse one that old
                    limits=httpx2.Limits(
                        max_connections=None, max_keepalive_connections=64, keepalive_expiry=2.0
                    ),
                )
                self._clients[loop] = client
            return client

    async def aclose(self) -> None:
        """Close the running loop's client (its pooled connections), before that loop
        ends."""
        with self._lock:
            client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()

    def close(self) -> None:
        """Close every client whose loop still runs (on that loop); the others' sockets
        went with their loop."""
        with self._lock:
            clients = list(self._clients.items())
            self._clients.clear()
        for loop, client in clients:
            if loop.is_closed() or not loop.is_running():
                continue
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                loop.create_task(client.aclose())
            else:
                asyncio.run_coroutine_threadsafe(client.aclose(), loop)


class RemoteModel:
    """A model served by an OpenAI-compatible upstream (see module doc); ``adapter``: a
    fine-tuned model served as a LoRA adapter on a vLLM upstream, owned by ``owner``."""

    def __init__(
        self,
        config: RemoteModelConfig,
        created: int,
        *,
        owner: str | None = None,
        adapter: Adapter | None = None,
        pool: _Pool | None = None,
    ) -> None:
        self.config = config
        self._created = created
        self._owner = owner
        self.adapter = adapter
        self._pool = pool or _Pool(config)
        self._adapter_loaded = False
        self._adapter_lock = threading.Lock()
        self._active = 0
        self._requests = 0
        self._closed = False
        name = adapter.name if adapter else config.id
        described = f"{config.flavor} upstream {config.base_url} ({self.upstream_model})"
        key = f"{config.flavor}|{config.base_url}|{self.upstream_model}"
        self._info = ModelInfo(
            id=name,
            path="",
            n_vocab=0,
            n_ctx_train=0,
            context_length=0,
            chat_template=None,
            bos_token="",
            eos_token="",
            fingerprint="fp_" + hashlib.sha256(key.encode()).hexdigest()[:10],
            description=described,
        )

    # --- ServedModel ---------------------------------------------------------------
    @property
    def id(self) -> str:
        return self.adapter.name if self.adapter else self.config.id

    @property
    def created(self) -> int:
        return self._created

    @property
    def owner(self) -> str | None:
        return self._owner

    @property
    def source(self) -> Path:
        raise InvalidRequest(
            f"Model {self.id} is served by an upstream engine and is not available for "
            "fine-tuning here.",
            param="model",
            code="model_not_available",
        )

    def tuning_weights(self) -> str:
        """The id of the local model fine-tuning trains on for this upstream
        (``RemoteModelConfig.weights``). Raises ``InvalidRequest`` (400, ``model``) when
        there is none, or when the upstream cannot load LoRA adapters (only vLLM does)."""
        weights = self.config.weights
        if self.adapter is not None or weights is None or self.flavor != "vllm":
            why = (
                "only a vLLM upstream loads fine-tuned adapters"
                if weights is not None and self.adapter is None
                else "it names no local weights to train on"
            )
            raise InvalidRequest(
                f"Model {self.id} is not available for fine-tuning: it is served by an "
                f"upstream engine and {why}.",
                param="model",
                code="model_not_available",
            )
        return weights

    @property
    def info(self) -> ModelInfo:
        """Facts for the API: ``fingerprint`` hashes flavor, URL and upstream model;
        there is no local vocabulary or template (zeros and None)."""
        return self._info

    @property
    def stats(self) -> EngineStats:
        """Requests in flight to the upstream (``active_requests``) and sent so far
        (``steps``); the upstream's own engine counters are its own."""
        return EngineStats(
            active_requests=self._active,
            waiting_requests=0,
            active_sequences=self._active,
            kv_positions={},
            steps=self._requests,
            decoded_tokens=0,
            step_seconds=0.0,
        )

    def tokenize(self, text: str, *, special: bool) -> list[int]:
        self._local_only("Tokenizing")

    def detokenize(self, tokens: Sequence[int]) -> str:
        self._local_only("Detokenizing")

    def compile_grammar(
        self, *, json_schema: dict[str, Any] | None = None, lark: str | None = None
    ) -> Grammar:
        self._local_only("A local grammar")

    def generate(self, request: GenerationRequest) -> GenerationHandle:
        self._local_only("Token-level generation")

    def close(self) -> None:
        self._closed = True
        if self.adapter is None:  # adapters share their base's pool
            self._pool.close()

    async def aclose(self) -> None:
        """Close this event loop's pooled upstream connections (a loop that ends while
        Hearth lives on, as in tests, calls it first)."""
        await self._pool.aclose()

    # --- upstream ------------------------------------------------------------------
    @property
    def flavor(self) -> str:
        """``openai``, ``vllm`` or ``llama-server`` (``RemoteModelConfig.flavor``)."""
        return self.config.flavor

    @property
    def upstream_model(self) -> str:
        """The ``model`` sent upstream: the adapter's name, else the configured model."""
        return self.adapter.name if self.adapter else self.config.upstream_model

    def with_adapter(self, adapter: Adapter, owner: str, created: int) -> RemoteModel:
        """This upstream serving ``adapter`` (loaded on first use) for ``owner``."""
        return RemoteModel(self.config, created, owner=owner, adapter=adapter, pool=self._pool)

    @staticmethod
    def cache_salt(organization_id: str) -> str:
        """vLLM's ``cache_salt`` for an organization: a digest, never the id itself, so
        prompts share cached blocks only within one organization."""
        return hashlib.sha256(f"hearth-prompt-cache|{organization_id}".encode()).hexdigest()

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST ``body`` to ``path`` (relative to ``base_url``) and return its JSON
        object. Raises the mapped ``HearthError`` (see module doc)."""
        response = await self.open(path, body)
        try:
            data = json.loads(await response.aread())
        except (ValueError, httpx2.HTTPError) as exc:
            raise self._unavailable(exc) from None
        finally:
            await response.aclose()
        if not isinstance(data, dict):
            raise ServiceUnavailable(
                f"The upstream engine of `{self.id}` answered with no JSON object.",
                code="upstream_error",
            )
        return data

    async def open(self, path: str, body: dict[str, Any]) -> httpx2.Response:
        """POST ``body`` to ``path`` and return the response once its headers arrive,
        its body unread (a stream): the caller reads it and must ``aclose`` it. Raises
        the mapped ``HearthError`` for a failed connection or an error status."""
        if self._closed:
            raise ServiceUnavailable("The engine is shutting down.")
        await self._load_adapter()
        client = self._pool.client()
        try:
            request = client.build_request("POST", path.lstrip("/"), json=body)
            response = await client.send(request, stream=True)
        except httpx2.HTTPError as exc:
            raise self._unavailable(exc) from None
        self._requests += 1
        if response.status_code >= 300:
            try:
                content = await response.aread()
            except httpx2.HTTPError:
                content = b""
            finally:
                await response.aclose()
            raise upstream_error(self.id, response.status_code, content)
        return response

    def started(self) -> None:
        """A request to the upstream began (for ``stats``)."""
        self._active += 1

    def ended(self) -> None:
        """A request to the upstream ended (for ``stats``)."""
        self._active -= 1

    async def _load_adapter(self) -> None:
        """Load the LoRA adapter on the upstream once (vLLM's
        ``POST /v1/load_lora_adapter``; an adapter it already holds is fine)."""
        adapter = self.adapter
        if adapter is None or self._adapter_loaded:
            return
        client = self._pool.client()
        try:
            response = await client.post(
                "load_lora_adapter", json={"lora_name": adapter.name, "lora_path": adapter.path}
            )
        except httpx2.HTTPError as exc:
            raise self._unavailable(exc) from None
        text = response.content
        if response.status_code >= 300 and b"already" not in text.lower():
            raise ServiceUnavailable(
                f"The upstream engine could not load the adapter of `{adapter.name}` "
                f"(HTTP {response.status_code}): {upstream_message(text)}",
                code="upstream_error",
            )
        with self._adapter_lock:
            self._adapter_loaded = True

    async def unload_adapter(self) -> None:
        """Unload this LoRA adapter from the upstream (vLLM's
        ``POST /v1/unload_lora_adapter``), after its model was deleted. A failure is
        logged, not raised: the upstream forgets it on restart anyway."""
        adapter = self.adapter
        if adapter is None:
            return
        try:
            response = await self._pool.client().post(
                "unload_lora_adapter", json={"lora_name": adapter.name}
            )
            failed = response.status_code >= 300 and response.status_code != 404
        except httpx2.HTTPError as exc:
            log.warning("unloading adapter %s failed: %r", adapter.name, exc)
            return
        if failed:
            log.warning(
                "unloading adapter %s failed (HTTP %d): %s",
                adapter.name,
                response.status_code,
                upstream_message(response.content),
            )
        with self._adapter_lock:
            self._adapter_loaded = False

    def _unavailable(self, exc: BaseException) -> ServiceUnavailable:
        if isinstance(exc, httpx2.TimeoutException):
            log.warning("upstream of %s timed out: %r", self.id, exc)
            return ServiceUnavailable(
                f"The upstream engine of `{self.id}` timed out.", code="upstream_timeout"
            )
        log.warning("upstream of %s unreachable: %r", self.id, exc)
        return ServiceUnavailable(
            f"The upstream engine of `{self.id}` is unreachable ({type(exc).__name__}).",
            code="upstream_unavailable",
        )

    def _local_only(self, what: str) -> NoReturn:
        raise InvalidRequest(
            f"{what} is not available for `{self.id}`: it is served by an upstream engine.",
            param="model",
        )
