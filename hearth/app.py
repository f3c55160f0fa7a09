"""``create_app(settings)``: the FastAPI application; services are built in the lifespan."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

import hearth
from hearth.api import (
    admin,
    containers,
    conversations,
    dashboard,
    demo,
    embeddings,
    engine,
    evals,
    files,
    models,
    realtime,
    responses,
    usage,
    vector_stores,
)
from hearth.api import completions as legacy_completions
from hearth.api.audio import speech, transcriptions, translations
from hearth.api.beta import assistants
from hearth.api.beta import threads as beta_threads
from hearth.api.beta.realtime import sessions as beta_realtime_sessions
from hearth.api.beta.threads import messages as thread_messages
from hearth.api.beta.threads import runs as thread_runs
from hearth.api.chat import completions
from hearth.api.chat.completions import messages
from hearth.api.containers import files as container_files
from hearth.api.conversations import items as conversation_items
from hearth.api.errors import install_error_handlers
from hearth.api.evals import runs as eval_runs
from hearth.api.evals.runs import output_items as eval_output_items
from hearth.api.fine_tuning import jobs
from hearth.api.fine_tuning.jobs import checkpoints
from hearth.api.headers import ResponseHeaders
from hearth.api.realtime import client_secrets as realtime_client_secrets
from hearth.api.responses import input_items as response_input_items
from hearth.api.responses import input_tokens as response_input_tokens
from hearth.api.vector_stores import file_batches as vector_store_file_batches
from hearth.api.vector_stores import files as vector_store_files
from hearth.config import Settings
from hearth.services.container import Services


def create_app(settings: Settings, services: Services | None = None) -> FastAPI:
    """The app. ``services`` may be injected (tests share one); otherwise the lifespan
    builds them from ``settings`` off the event loop and closes them at shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = services is None
        app.state.services = services or await asyncio.to_thread(Services.build, settings)
        if own:
            await app.state.services.start_background()
        try:
            yield
        finally:
            if own:
                await app.state.services.stop_background()
                await asyncio.to_thread(app.state.services.close)

    app = FastAPI(
        title="Hearth", version=hearth.__version__, lifespan=lifespan, docs_url=None, redoc_url=None
    )
    if services is not None:  # in-process tests run without a lifespan
        app.state.services = services
    install_error_handlers(app)
    app.add_middleware(ResponseHeaders)  # x-request-id, openai-processing-ms, ...
    app.include_router(engine.router)
    app.include_router(models.router, prefix="/v1")
    app.include_router(admin.router, prefix="/v1")
    app.include_router(usage.router, prefix="/v1")
    app.include_router(completions.router, prefix="/v1")
    app.include_router(legacy_completions.router, prefix="/v1")
    app.include_router(messages.router, prefix="/v1")
    app.include_router(files.router, prefix="/v1")
    app.include_router(evals.router, prefix="/v1")
    app.include_router(eval_runs.router, prefix="/v1")
    app.include_router(eval_output_items.router, prefix="/v1")
    app.include_router(jobs.router, prefix="/v1")
    app.include_router(checkpoints.router, prefix="/v1")
    app.include_router(embeddings.router, prefix="/v1")
    app.include_router(vector_stores.router, prefix="/v1")
    app.include_router(vector_store_files.router, prefix="/v1")
    app.include_router(vector_store_file_batches.router, prefix="/v1")
    app.include_router(containers.router, prefix="/v1")
    app.include_router(container_files.router, prefix="/v1")
    # input_tokens and compact before /responses/{response_id}
    app.include_router(response_input_tokens.router, prefix="/v1")
    app.include_router(responses.router, prefix="/v1")
    app.include_router(response_input_items.router, prefix="/v1")
    app.include_router(conversations.router, prefix="/v1")
    app.include_router(conversation_items.router, prefix="/v1")
    app.include_router(speech.router, prefix="/v1")
    app.include_router(transcriptions.router, prefix="/v1")
    app.include_router(translations.router, prefix="/v1")
    app.include_router(realtime.router, prefix="/v1")
    app.include_router(realtime_client_secrets.router, prefix="/v1")
    app.include_router(beta_realtime_sessions.router, prefix="/v1")
    app.include_router(assistants.router, prefix="/v1")
    app.include_router(assistants.hearth_router)
    # runs first: POST /threads/runs (create_and_run) before POST /threads/{thread_id}
    app.include_router(thread_runs.router, prefix="/v1")
    app.include_router(beta_threads.router, prefix="/v1")
    app.include_router(thread_messages.router, prefix="/v1")
    app.include_router(demo.token_router)
    if settings.realtime_demo:
        app.include_router(demo.router)
    if settings.dashboard:
        app.include_router(dashboard.router)  # GET / and /dashboard/*: the web app
    return app
