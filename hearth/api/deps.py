"""Request-scoped dependencies: the services container and the caller's identity.

Every route that acts for a key takes ``caller: Caller`` (a ``Principal``); the 401 for a
missing or unknown key is raised here, once."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from hearth.api.headers import PRINCIPAL_STATE
from hearth.domain import Principal
from hearth.errors import AuthenticationFailed
from hearth.services.chat.metadata import check_metadata
from hearth.services.container import Services


def services(request: Request) -> Services:
    """The app's ``Services`` (built in the lifespan)."""
    built: Services = request.app.state.services
    return built


def bearer_key(authorization: str) -> str:
    """The key of an ``Authorization: Bearer <key>`` header value; "" when absent."""
    scheme, _, key = authorization.partition(" ")
    return key.strip() if scheme.lower() == "bearer" else ""


async def authenticate(request: Request) -> Principal:
    """``Authorization: Bearer <key>`` -> ``Principal``; 401 in OpenAI's shape otherwise.

    Key permissions are enforced here, for every route at once: the route's method and
    path template name the scope it needs (``hearth.services.admin.scopes``), and a key
    without it (read-only, restricted, a project key on the Admin API, an admin key
    elsewhere) gets OpenAI's 401 "insufficient permissions ... Missing scopes"."""
    key = bearer_key(request.headers.get("authorization", ""))
    if not key:
        raise AuthenticationFailed(
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            code="missing_api_key",
        )
    auth = services(request).auth
    caller = await auth.authenticate(key)
    setattr(request.state, PRINCIPAL_STATE, caller)  # for openai-organization/-project
    route = request.scope.get("route")
    auth.authorize(caller, request.method, getattr(route, "path", request.url.path))
    return caller


Caller = Annotated[Principal, Depends(authenticate)]
"""The authenticated caller of a route."""

Svc = Annotated[Services, Depends(services)]
"""The services container of a route."""


def metadata_filter(request: Request) -> dict[str, str] | None:
    """The ``metadata[key]=value`` query pairs of a list request (how the SDK encodes a
    ``metadata`` dict in a query); None when there are none. ``InvalidRequest`` (400,
    ``param`` ``metadata``) for what metadata may not hold: more than 16 pairs, a key
    over 64 characters, a value over 512."""
    found = {
        key[len("metadata[") : -1]: value
        for key, value in request.query_params.multi_items()
        if key.startswith("metadata[") and key.endswith("]") and len(key) > 10
    }
    return check_metadata(found) or None
