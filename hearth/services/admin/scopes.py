"""Key permissions: which scope each route needs (OpenAI's restricted API keys).

A project key holds ``scopes``: none for all permissions, ``["api.all.read"]`` for read
only, or a restricted key's list (``api.files.write``, ``api.model.request``, ...); an
admin key holds the Admin API's ``api.management.read`` / ``.write`` and nothing else
(``Principal.allows``). ``required_scope`` maps a route (method + path template) to the
scope it needs: a resource's ``.read`` for ``GET``, ``.write`` for other methods, with
model capabilities (chat, completions, embeddings, audio, moderations, images,
Realtime) needing ``api.model.request``. The table of every scope is in docs/admin.md.
"""

from __future__ import annotations

from hearth.domain import READ_ONLY_SCOPE

MODEL_REQUEST = "api.model.request"
"""Model capabilities: generating with a model (OpenAI's "Model capabilities: Write")."""

RESOURCES: tuple[tuple[str, str], ...] = (
    ("/organization", "api.management"),
    ("/models", "api.model"),
    ("/chat/completions", "api.chat.completions"),
    ("/completions", "api.model"),
    ("/embeddings", "api.model"),
    ("/audio", "api.model"),
    ("/moderations", "api.model"),
    ("/images", "api.model"),
    ("/realtime", "api.model"),
    ("/files", "api.files"),
    ("/uploads", "api.files"),
    ("/vector_stores", "api.vector_stores"),
    ("/assistants", "api.assistants"),
    ("/threads", "api.threads"),
    ("/responses", "api.responses"),
    ("/conversations", "api.responses"),
    ("/containers", "api.containers"),
    ("/evals", "api.evals"),
    ("/fine_tuning", "api.fine_tuning.jobs"),
    ("/batches", "api.batch"),
)
"""Path prefix (after ``/v1``; Hearth's own ``/hearth/<x>`` routes read as ``/<x>``) ->
scope prefix. The first match wins; a path matches a prefix at a ``/`` boundary."""

OVERRIDES: dict[tuple[str, str], str] = {
    ("POST", "/chat/completions"): MODEL_REQUEST,
    ("DELETE", "/models/{model}"): "api.fine_tuning.jobs.write",
    ("POST", "/vector_stores/{vector_store_id}/search"): "api.vector_stores.read",
    ("POST", "/responses/input_tokens"): "api.responses.read",
    ("GET", "/engine"): "api.model.read",
}
"""Routes whose scope is not their resource's read/write: creating a chat completion is
a model request; deleting a fine-tuned model is fine-tuning's; searching and counting
tokens only read."""

MODEL_CAPABILITIES = frozenset(
    {"/completions", "/embeddings", "/audio", "/moderations", "/images", "/realtime"}
)
"""Prefixes whose writes are model requests (``api.model.request``)."""

SCOPES: tuple[str, ...] = (
    READ_ONLY_SCOPE,
    MODEL_REQUEST,
    *sorted(
        {f"{scope}.{action}" for _, scope in RESOURCES for action in ("read", "write")}
        - {"api.model.write", "api.management.read", "api.management.write"}
    ),
)
"""Every scope a project key may hold."""


def required_scope(method: str, path: str) -> str | None:
    """The scope a request needs: ``method`` (``GET`` ... or ``WEBSOCKET``) on the
    route's path template (``/files/{file_id}`` as its router declares it, or with the
    ``/v1`` prefix it is served under; Hearth's own ``/hearth/...``). None for a path no
    prefix covers (a route added without a scope: ``authenticate`` refuses it)."""
    if path.startswith("/v1/"):
        path = path[3:]
    elif path.startswith("/hearth/"):
        path = path[7:]
    method = method.upper()
    if (method, path) in OVERRIDES:
        return OVERRIDES[(method, path)]
    for prefix, scope in RESOURCES:
        if path == prefix or path.startswith(prefix + "/"):
            if method in ("GET", "HEAD"):
                return f"{scope}.read"
            return MODEL_REQUEST if prefix in MODEL_CAPABILITIES else f"{scope}.write"
    return None


def check_scopes(scopes: list[str]) -> list[str]:
    """``scopes`` of a new or updated project key, sorted and deduplicated; ``ValueError``
    naming the first one Hearth does not know (``api.management.*`` included: project
    keys never reach the Admin API)."""
    for scope in scopes:
        if scope not in SCOPES:
            raise ValueError(f"Unknown scope {scope!r}; valid scopes: {', '.join(SCOPES)}.")
    return sorted(set(scopes))
