"""Who is calling: an API key (``sk-hearth-...``, or an Admin API key ``sk-admin-...``)
-> ``Principal``, the ``caller`` every other service method takes, and whether its
permissions reach a route (OpenAI API reference: "Authentication")."""

from __future__ import annotations

import asyncio

from hearth.domain import Principal
from hearth.errors import AuthenticationFailed, InsufficientPermissions, PermissionDenied
from hearth.services.admin.scopes import required_scope
from hearth.store.api_keys import ApiKeyStore, redact_secret


class Auth:
    """Verifies API keys: from the in-process cache on the event loop, from the database
    on a worker thread."""

    def __init__(self, api_keys: ApiKeyStore) -> None:
        self._keys = api_keys

    async def verify(self, key: str) -> Principal | None:
        """The ``Principal`` of ``key``, or None if it is no known key."""
        return self._keys.cached(key) or await asyncio.to_thread(self._keys.verify, key)

    async def authenticate(self, key: str) -> Principal:
        """The ``Principal`` of ``key``; ``AuthenticationFailed`` (401,
        ``invalid_api_key``) if it is unknown (the message shows it redacted)."""
        principal = await self.verify(key)
        if principal is None:
            raise AuthenticationFailed(f"Incorrect API key provided: {redact_secret(key)}.")
        return principal

    def authorize(self, caller: Principal, method: str, path: str) -> None:
        """Let ``caller`` reach the route ``method`` ``path`` (its template, e.g.
        ``/v1/files/{file_id}``; ``WEBSOCKET`` for a socket) only if its key holds the
        scope the route needs; ``InsufficientPermissions`` (401, OpenAI's "Missing
        scopes: ...") otherwise, and ``PermissionDenied`` (403) for a route no scope
        covers (a route added without one: refused rather than open)."""
        scope = required_scope(method, path)
        if scope is None:
            raise PermissionDenied(
                f"{method} {path} has no permission scope; no key may call it.",
                code="insufficient_permissions",
            )
        if not caller.allows(scope):
            raise InsufficientPermissions(scope)

    async def default_principal(self) -> Principal | None:
        """The server's first key's ``Principal`` (its own loopback-only pages act as
        it), or None without keys."""
        return await asyncio.to_thread(self._keys.default_principal)

    async def require_operator(self, caller: Principal, what: str) -> None:
        """Let ``caller`` read ``what``, state of the whole server (every organization's
        load), only if its key belongs to the server's own organization: the one holding
        its first key (``HEARTH_API_KEY`` or the key generated at first start). Keys of
        other organizations get ``PermissionDenied`` (403, ``insufficient_permissions``):
        they are valid keys, so not a 401."""
        owner = await self.default_principal()
        if owner is None or caller.organization_id != owner.organization_id:
            raise PermissionDenied(
                f"You have insufficient permissions for this operation: {what} shows the "
                "whole server, so it needs a key of the server's own organization.",
                code="insufficient_permissions",
            )
