"""Who is calling: an API key (``sk-hearth-...``) -> ``Principal``, the ``caller`` every
other service method takes (OpenAI API reference: "Authentication")."""

from __future__ import annotations

import asyncio

from hearth.domain import Principal
from hearth.errors import AuthenticationFailed, PermissionDenied
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
