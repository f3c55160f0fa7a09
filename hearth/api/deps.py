"""Request-scoped dependencies: the services container and the caller's identity."""

from __future__ import annotations

from fastapi import Request

from hearth.errors import AuthenticationFailed
from hearth.services.container import Services
from hearth.store.api_keys import Principal, redact_secret


def services(request: Request) -> Services:
    """The app's ``Services`` (built in the lifespan)."""
    return request.app.state.services  # type: ignore[no-any-return]


async def authenticate(request: Request) -> Principal:
    """``Authorization: Bearer <key>`` -> ``Principal``; 401 in OpenAI's shape otherwise."""
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise AuthenticationFailed(
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            code="missing_api_key")
    principal = services(request).api_keys.verify(key)
    if principal is None:
        raise AuthenticationFailed(f"Incorrect API key provided: {redact_secret(key)}.")
    return principal


def metadata_filter(request: Request) -> dict[str, str] | None:
    """The ``metadata[key]=value`` query pairs of a list request (how the SDK encodes a
    ``metadata`` dict in a query); None when there are none."""
    found = {key[len("metadata["):-1]: value for key, value in request.query_params.multi_items()
             if key.startswith("metadata[") and key.endswith("]") and len(key) > 10}
    return found or None
