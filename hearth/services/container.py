"""Everything a running server needs, built once from ``Settings`` (no web framework)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine

from hearth.audio.registry import AudioRegistry
from hearth.config import Settings
from hearth.engine.registry import ModelRegistry
from hearth.jobs.bus import EventBus
from hearth.jobs.bus import build as event_bus
from hearth.retrieval.embeddings import EmbeddingRegistry
from hearth.sandbox import Sandboxes
from hearth.services.admin.service import KEYS_CHANGED, LIMITS_CHANGED, Admin
from hearth.services.assistants.actions import ActionCaller, Secrets
from hearth.services.assistants.assistants import Assistants
from hearth.services.assistants.runs import Runs
from hearth.services.assistants.threads import Threads
from hearth.services.audio.speech import Speech
from hearth.services.audio.transcriptions import Transcriptions
from hearth.services.auth import Auth
from hearth.services.chat.completions import ChatCompletions
from hearth.services.chat.stored import StoredCompletions
from hearth.services.completions import Completions
from hearth.services.containers import Containers
from hearth.services.conversations import Conversations
from hearth.services.embeddings import Embeddings
from hearth.services.evals.service import Evals
from hearth.services.files import Files
from hearth.services.fine_tuning.service import FineTuning
from hearth.services.models import Models
from hearth.services.rate_limits import CachedLimits, RateLimiter, project_limits
from hearth.services.realtime.service import Realtime
from hearth.services.responses.service import Responses
from hearth.services.usage import UsageMeter, UsageReports
from hearth.services.vector_stores.service import VectorStores
from hearth.store.admin import AdminStore
from hearth.store.api_keys import ApiKeyStore
from hearth.store.assistants import AssistantRepository, ThreadRepository
from hearth.store.blobs import BlobStore
from hearth.store.client_secrets import ClientSecretStore
from hearth.store.containers import ContainerRepository
from hearth.store.db import create_db_engine, migrate, session_factory
from hearth.store.evals import EvalStore
from hearth.store.files import FileRepository
from hearth.store.fine_tuning import FineTuningStore
from hearth.store.responses import ResponseRepository
from hearth.store.runs import RunRepository
from hearth.store.stored_completions import StoredCompletionRepository
from hearth.store.usage import UsageRepository
from hearth.store.vector_stores import VectorStoreRepository

log = logging.getLogger(__name__)


@dataclass
class Services:
    """The server's long-lived parts; ``close()`` releases them."""

    settings: Settings
    db: Engine
    api_keys: ApiKeyStore
    auth: Auth
    registry: ModelRegistry
    """The served chat models (the engine)."""
    chat: ChatCompletions
    audio: AudioRegistry
    speech: Speech
    transcriptions: Transcriptions
    realtime: Realtime
    files: Files
    stored_completions: StoredCompletions
    evals: Evals
    fine_tuning: FineTuning
    embedding_models: EmbeddingRegistry
    """The served embedding models (batched on their own threads)."""
    vector_stores: VectorStores
    responses: Responses
    """``client.responses``: the agent runtime over ``chat`` (background runner)."""
    conversations: Conversations
    sandboxes: Sandboxes
    """Code interpreter sandboxes (``reason`` says why none can run on this host)."""
    containers: Containers
    """``client.containers`` over ``sandboxes``; ``execute`` runs code in one."""
    assistants: Assistants
    """``client.beta.assistants``."""
    threads: Threads
    """``client.beta.threads`` and ``.messages``."""
    runs: Runs
    """``client.beta.threads.runs`` (+ steps): runs over ``responses`` (background
    runner)."""
    meter: UsageMeter
    """Records every billable call (written in batches)."""
    usage: UsageReports
    """``/v1/organization/usage/*`` and ``/costs`` over ``meter``'s records."""
    models: Models
    """``client.models`` over ``registry`` and ``audio``."""
    admin: Admin
    """``client.admin.organization``: the Admin API (docs/admin.md)."""
    limiter: RateLimiter
    """Admits model requests under their project's rate limits (``admin``'s)."""
    bus: EventBus
    """Background work's events and signals (cancels, key and limit changes), shared with
    other replicas through Redis."""
    completions: Completions = field(init=False)
    """``client.completions`` (legacy Completions) over ``registry``."""
    embeddings: Embeddings = field(init=False)
    """``client.embeddings`` over ``embedding_models``."""

    def __post_init__(self) -> None:
        self.completions = Completions(self.registry, self.meter, self.limiter)
        self.embeddings = Embeddings(self.embedding_models, self.meter, self.limiter)

    @classmethod
    def build(cls, settings: Settings, clock: Callable[[], float] = time.monotonic) -> Services:
        """Create the data dir, migrate the database, bootstrap the API key (printing a
        generated one once) and load the chat models; speech models are only located here
        and load on first use (``clock``: prompt-cache expiry, speech-model idle time)."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = create_db_engine(settings.resolved_database_url())
        try:
            return cls._assemble(settings, clock, db)
        except BaseException:  # nothing holds the engine: close its pooled connections
            db.dispose()
            raise

    @classmethod
    def _assemble(cls, settings: Settings, clock: Callable[[], float], db: Engine) -> Services:
        """``build`` once its database engine exists."""
        migrate(db)
        sessions = session_factory(db)
        api_keys = ApiKeyStore(sessions)
        explicit = settings.api_key.get_secret_value() if settings.api_key else None
        created = api_keys.bootstrap(explicit)
        if created:
            print(f"Created API key (shown once, store it now): {created}", flush=True)
        admin_key = settings.admin_key.get_secret_value() if settings.admin_key else None
        created_admin = api_keys.bootstrap_admin(admin_key)
        if created_admin:
            print(f"Created admin key (shown once, store it now): {created_admin}", flush=True)
        models = ModelRegistry.load(settings.engine, clock)
        audio = AudioRegistry.build(settings.speech, clock)
        log.info(
            "serving models: %s",
            ", ".join([m.id for m in models.list()] + [m.id for m in audio.models()]),
        )
        retrieval = settings.retrieval
        embedding_models = EmbeddingRegistry.build(
            retrieval.enabled,
            retrieval.models,
            retrieval.model_aliases,
            retrieval.threads,
            retrieval.batch_size,
        )
        catalog = Models(models, audio, embedding_models)
        bus = event_bus(settings.redis_url)
        admin = Admin(
            AdminStore(sessions),
            catalog,
            (settings.project_rate_limit_rpm, settings.project_rate_limit_tpm),
            bus,
        )
        limits = CachedLimits(lambda project_id, model: project_limits(admin, project_id, model))
        bus.on_signal(KEYS_CHANGED, lambda _: api_keys.clear_cache())
        bus.on_signal(LIMITS_CHANGED, limits.forget)
        limiter = RateLimiter(limits, settings.redis_url or "memory://")
        responses_repo = ResponseRepository(sessions)
        stored = StoredCompletions(StoredCompletionRepository(sessions), responses_repo)
        usage_repo = UsageRepository(sessions)
        meter = UsageMeter(usage_repo)
        chat = ChatCompletions(
            models,
            stored,
            enforce_schemas=settings.api.enforce_schemas,
            meter=meter,
            limiter=limiter,
        )
        realtime = Realtime(
            settings.realtime,
            settings.speech,
            models,
            chat,
            audio,
            ClientSecretStore(sessions),
            meter,
        )
        files = Files(
            FileRepository(sessions), BlobStore(settings.data_dir / "blobs"), settings.storage
        )
        vector_stores = VectorStores(
            VectorStoreRepository(sessions), files, embedding_models, retrieval
        )
        sandboxes = Sandboxes(settings.sandbox)
        containers = Containers(
            ContainerRepository(sessions), files, sandboxes, meter=meter, bus=bus
        )
        responses = Responses(
            responses_repo,
            chat,
            models,
            vector_stores,
            containers,
            bus,
            lease_seconds=settings.jobs.lease_seconds,
            # background responses run as many at once as the engine decodes
            concurrency=settings.engine.max_sequences,
        )
        assistants = Assistants(
            AssistantRepository(sessions),
            models,
            files,
            vector_stores,
            Secrets(
                settings.secret_key.get_secret_value() if settings.secret_key else None,
                settings.data_dir,
            ),
            ActionCaller(
                settings.action_hosts,
                settings.action_timeout_seconds,
                settings.action_max_response_bytes,
            ),
        )
        threads = Threads(ThreadRepository(sessions), files, vector_stores)
        return cls(
            settings,
            db,
            api_keys,
            Auth(api_keys),
            models,
            chat,
            audio,
            Speech(audio, meter, limiter),
            Transcriptions(audio, settings.speech, meter, limiter),
            realtime,
            files,
            stored,
            Evals(EvalStore(sessions), chat, files, stored, settings.jobs, bus),
            FineTuning(FineTuningStore(sessions), files, models, settings.jobs),
            embedding_models,
            vector_stores,
            responses,
            Conversations(responses_repo),
            sandboxes,
            containers,
            assistants,
            threads,
            Runs(
                RunRepository(sessions),
                assistants,
                threads,
                responses,
                containers,
                files,
                models,
                bus,
                lease_seconds=settings.jobs.lease_seconds,
                concurrency=settings.engine.max_sequences,
            ),
            meter,
            UsageReports(usage_repo, meter, settings.prices),
            catalog,
            admin,
            limiter,
            bus,
        )

    async def start_background(self) -> None:
        """Start the background runners (eval runs, fine-tuning, ingestion, background
        responses) on the serving event loop; they resume work whose lease expired (a
        previous server was killed). Containers a previous server left running are
        marked expired, and idle ones expire from now on."""
        await self.bus.start()
        await self.evals.start()
        await self.fine_tuning.start()
        await self.vector_stores.start()
        await self.containers.start()
        await self.responses.start()
        await self.runs.start()

    async def stop_background(self) -> None:
        """Stop the runners; work in progress resumes on the next start. Containers are
        destroyed (their kernels and files cannot outlive the server)."""
        await self.runs.stop()
        await self.responses.stop()
        await self.containers.stop()
        await self.sandboxes.close()
        await self.vector_stores.stop()
        await self.fine_tuning.stop()
        await self.evals.stop()
        await self.limiter.close()
        await self.bus.close()

    def close(self) -> None:
        """Destroy the containers left, stop the engines and dispose of database
        connections."""
        # on a thread of its own: the caller's thread may be running an event loop
        closer = threading.Thread(target=asyncio.run, args=(self.sandboxes.close(),))
        closer.start()
        closer.join()
        self.audio.close()
        self.embedding_models.close()
        self.registry.close()
        self.meter.close()
        self.db.dispose()
