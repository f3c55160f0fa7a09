"""The headers OpenAI sends on every API response (API reference, "Debugging requests"):
``x-request-id`` (a unique id the SDK exposes as ``_request_id``), ``openai-processing-ms``
(milliseconds from receiving the request to starting the response), ``openai-version``
(the API version, ``2020-10-01``) and, for an authenticated caller, ``openai-organization``
and ``openai-project`` (its organization and project ids); on a rate-limited model
request, OpenAI's ``x-ratelimit-*`` headers (``services.rate_limits``).

A pure ASGI middleware, so streamed bodies pass through untouched; the caller is the
``Principal`` that ``deps.authenticate`` leaves in the request's state."""

from __future__ import annotations

import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hearth.domain import Principal
from hearth.services.rate_limits import RATE_LIMIT_HEADERS

API_VERSION = "2020-10-01"
PRINCIPAL_STATE = "principal"
"""The request-state key ``deps.authenticate`` stores the caller under."""


def new_request_id() -> str:
    """``req_`` + 32 hex digits, OpenAI's shape."""
    return f"req_{uuid.uuid4().hex}"


class ResponseHeaders:
    """Adds OpenAI's per-response headers to every HTTP response of ``app``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state = scope.setdefault("state", {})
        request_id = state.setdefault("request_id", new_request_id())
        limits: dict[str, str] = {}
        token = RATE_LIMIT_HEADERS.set(limits)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                elapsed_ms = int((time.perf_counter() - started) * 1000)
                headers = list(message.get("headers", []))
                headers += [
                    (b"x-request-id", request_id.encode()),
                    (b"openai-processing-ms", str(elapsed_ms).encode()),
                    (b"openai-version", API_VERSION.encode()),
                ]
                caller = state.get(PRINCIPAL_STATE)
                if isinstance(caller, Principal):
                    headers += [
                        (b"openai-organization", caller.organization_id.encode()),
                        (b"openai-project", caller.project_id.encode()),
                    ]
                headers += [(k.encode(), v.encode()) for k, v in limits.items()]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            RATE_LIMIT_HEADERS.reset(token)
