"""The one place errors become HTTP responses, always in OpenAI's shape:
``{"error": {"message", "type", "param", "code"}}`` (never FastAPI's 422 ``detail``).

A pydantic ``ValidationError`` that reaches here was raised inside Hearth (client input is
converted where it is parsed, by ``hearth.errors.invalid_request``), so it is a 500."""

from __future__ import annotations

import logging
import math

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from hearth.errors import HearthError, InternalError, InvalidRequest, NotFound, invalid_request

log = logging.getLogger(__name__)


RETRY_AFTER_S = 1
"""``Retry-After`` (seconds) of a refusal for load (429 ``RateLimited``, 503
``ServiceUnavailable``). The SDK honours it (it retries 429 and 5xx, ``max_retries``
times): an engine frees sequences every step and an audio worker within seconds, so one
second is enough for a retry to find room under a burst that is passing."""


def render(error: HearthError) -> JSONResponse:
    """``error`` as its status code and OpenAI-shaped body, with ``Retry-After`` on a 429
    or 503: a rate limit's own wait rounded up to whole seconds (and exact in
    ``retry-after-ms``, which the SDK prefers), else ``RETRY_AFTER_S``."""
    headers = None
    if error.status_code in (429, 503):
        headers = {"Retry-After": str(RETRY_AFTER_S)}
        wait = getattr(error, "retry_after", None)
        if wait is not None:
            headers = {
                "Retry-After": str(max(1, math.ceil(wait))),
                "retry-after-ms": str(max(1, math.ceil(wait * 1000))),
            }
    return JSONResponse(error.to_dict(), status_code=error.status_code, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Route every exception type to ``render``."""

    @app.exception_handler(HearthError)
    async def _hearth(_: Request, exc: HearthError) -> JSONResponse:
        return render(exc)

    @app.exception_handler(RequestValidationError)
    async def _fastapi(_: Request, exc: RequestValidationError) -> JSONResponse:
        return render(invalid_request(exc.errors()))

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return render(NotFound(f"Invalid URL ({request.method} {request.url.path})"))
        error = InvalidRequest(str(exc.detail))
        return JSONResponse(error.to_dict(), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _crash(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return render(
            InternalError(
                "The server had an error while processing your request. Sorry about that!"
            )
        )
