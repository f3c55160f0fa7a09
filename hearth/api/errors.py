"""The one place errors become HTTP responses, always in OpenAI's shape:
``{"error": {"message", "type", "param", "code"}}`` (never FastAPI's 422 ``detail``)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from hearth.errors import HearthError, InternalError, InvalidRequest, NotFound

log = logging.getLogger(__name__)


def _param(loc: Sequence[Any]) -> str | None:
    out = ""
    for part in loc:
        if part in ("body",) and not out:
            continue
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or None


def validation_error(errors: Sequence[Any]) -> HearthError:
    """The first pydantic error as a 400 naming the offending field (``param``)."""
    first = errors[0]
    if first["type"] == "json_invalid":
        return InvalidRequest("We could not parse the JSON body of your request. The "
                              "request body must be valid JSON.")
    param = _param(first["loc"])
    detail = first["msg"]
    if first["type"] == "missing":
        return InvalidRequest(f"Missing required parameter: '{param}'.", param=param)
    if first["type"] == "literal_error":
        got = first.get("input")
        return InvalidRequest(f"Invalid value: '{got}'. {detail}", param=param,
                              code="invalid_value")
    return InvalidRequest(f"Invalid '{param}': {detail}.", param=param)


def render(error: HearthError) -> JSONResponse:
    """``error`` as its status code and OpenAI-shaped body."""
    return JSONResponse(error.to_dict(), status_code=error.status_code)


def install_error_handlers(app: FastAPI) -> None:
    """Route every exception type to ``render``."""

    @app.exception_handler(HearthError)
    async def _hearth(_: Request, exc: HearthError) -> JSONResponse:
        return render(exc)

    @app.exception_handler(ValidationError)
    async def _pydantic(_: Request, exc: ValidationError) -> JSONResponse:
        return render(validation_error(exc.errors()))

    @app.exception_handler(RequestValidationError)
    async def _fastapi(_: Request, exc: RequestValidationError) -> JSONResponse:
        return render(validation_error(exc.errors()))

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return render(NotFound(f"Invalid URL ({request.method} {request.url.path})"))
        error = InvalidRequest(str(exc.detail))
        return JSONResponse(error.to_dict(), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _crash(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return render(InternalError("The server had an error while processing your "
                                    "request. Sorry about that!"))
