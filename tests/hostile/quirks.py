"""How ``test_openapi.py`` departs from fuzzing OpenAI's OpenAPI document as it stands,
each with its reason. Nothing else is excluded or changed.

The document describes OpenAI's service; Hearth serves a subset with a small local
model on a few CPU cores, so generated requests are bounded where the document allows
values that only cost time (they are not about correctness: each bound keeps its
parameter's *shape* fuzzed, only its size capped).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

MODEL = "smollm2-135m-instruct"

MAX_TOKENS = 4
"""Chat completions: ``max_tokens`` / ``max_completion_tokens`` above this (or absent,
which means "up to the context") are set to it. A positive count only changes how long
the bundled model generates; 0, negative and non-integer values are sent as generated."""

# Chat completions: a generated ``model`` string is replaced by the bundled model's id
# (``MODEL``), so generated bodies reach generation instead of all ending in a 404
# ``model_not_found`` (which Hearth answers correctly for any other id).

SPEECH_INPUT_CHARS = 64
"""``/audio/speech``: ``input`` is cut to this many characters (the document allows 4,096;
synthesis time grows with the text, not its correctness)."""

MAX_OUTPUT_TOKENS = 16
"""Responses: ``max_output_tokens`` above this (or absent: up to the context, thousands of
tokens) is set to it (16 is the least the API takes). Legacy completions: ``max_tokens``
likewise capped at ``MAX_TOKENS``."""

BODY_TOUCHING = {
    ("POST", "/chat/completions"),
    ("POST", "/completions"),
    ("POST", "/responses"),
    ("POST", "/audio/speech"),
}
"""The operations whose generated bodies are bounded above."""

NOT_IN_DOCUMENT = {
    ("POST", "/evals/{eval_id}/runs/{run_id}/cancel"),
    ("POST", "/organization/projects/{project_id}/api_keys/{api_key_id}"),
    ("GET", "/responses"),
}
"""Hearth routes the document does not have (the SDK's ``runs.cancel`` posts to the run
itself; Hearth also answers this older path; the SDK's
``projects.api_keys.update``, which sets a key's scopes; the list of stored responses the
dashboard's Logs read): nothing to generate from."""


def bound(method: str, path: str, body: Any) -> Any:
    """A generated body with the bounds above applied (others untouched)."""
    if (method, path) not in BODY_TOUCHING or not isinstance(body, dict):
        return body
    if path == "/chat/completions":
        if isinstance(body.get("model"), str):
            body["model"] = MODEL
        for key in ("max_tokens", "max_completion_tokens"):
            value = body.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value > MAX_TOKENS:
                body[key] = MAX_TOKENS
        if body.get("max_tokens") is None and body.get("max_completion_tokens") is None:
            body["max_completion_tokens"] = MAX_TOKENS
    elif path in ("/completions", "/responses"):
        key, cap = (
            ("max_tokens", MAX_TOKENS)
            if path == "/completions"
            else ("max_output_tokens", MAX_OUTPUT_TOKENS)
        )
        value = body.get(key)
        if value is None or (
            isinstance(value, int) and not isinstance(value, bool) and value > cap
        ):
            body[key] = cap
    elif path == "/audio/speech" and isinstance(body.get("input"), str):
        body["input"] = body["input"][:SPEECH_INPUT_CHARS]
    return body


# --- the document, patched where OpenAI's API (and the SDK's types) differ from it ------


def patch_document(doc: dict[str, Any]) -> dict[str, Any]:
    """OpenAI's OpenAPI document with the departures below applied (in place)."""
    schemas = doc["components"]["schemas"]
    # ``ContainerResource`` lists its required fields twice, which JSON Schema forbids
    # (``required`` items must be unique): the same fields, once each
    for schema in schemas.values():
        if isinstance(schema, dict) and isinstance(schema.get("required"), list):
            schema["required"] = list(dict.fromkeys(schema["required"]))
    for name in list_schemas(schemas):
        for end in ("first_id", "last_id"):
            schemas[name]["properties"][end] = nullable(schemas[name]["properties"][end])
    for name, dotted in NULLABLE:
        props = schemas[name]
        *parents, leaf = dotted.split(".")
        for part in parents:
            props = props["properties"][part]
        props["properties"][leaf] = nullable(props["properties"][leaf])
    for response in responses(doc):
        for media in (response.get("content") or {}).values():
            if media.get("schema") == {"$ref": "#/components/schemas/Error"}:
                media["schema"] = {"$ref": "#/components/schemas/ErrorResponse"}
    # OpenAI returns the purpose a file was uploaded with, and the document's upload
    # request allows "evals" (the SDK's FileObject does not list it; docs/architecture.md)
    schemas["OpenAIFile"]["properties"]["purpose"]["enum"].append("evals")
    session = schemas["RealtimeCreateClientSecretResponse"]["properties"]["session"]
    session["discriminator"]["mapping"] = {
        "realtime": "#/components/schemas/RealtimeSessionCreateResponseGA",
        "transcription": "#/components/schemas/RealtimeTranscriptionSessionCreateResponseGA",
    }
    return doc


NULLABLE = [
    ("OpenAIFile", "status_details"),
    ("OpenAIFile", "expires_at"),
    ("ChatCompletionResponseMessage", "tool_calls"),
    ("RealtimeSessionCreateResponseGA", "include"),
    ("RealtimeSessionCreateResponseGA", "audio.input.transcription"),
    ("RealtimeSessionCreateResponseGA", "audio.input.noise_reduction"),
    ("RealtimeSessionCreateResponse", "tracing"),
]
"""Fields OpenAI sends as ``null`` where the document types them without ``null``; each
is ``Optional`` in the SDK's type of the object (``FileObject.status_details`` and
``expires_at`` (a file that never expires),
``ChatCompletionMessage.tool_calls``, the Realtime session's ``include``,
``audio.input.transcription`` / ``noise_reduction`` (off) and ``tracing`` (off))."""


def list_schemas(schemas: dict[str, Any]) -> list[str]:
    """List objects whose ``first_id`` / ``last_id`` the document types as a plain string.
    OpenAI sends ``null`` for both on an empty page (the SDK's ``SyncCursorPage`` and
    the document's newer lists, e.g. ``VideoListResource``, say ``string | null``)."""
    return [
        name
        for name, schema in schemas.items()
        if isinstance(schema, dict)
        and schema.get("properties", {}).get("first_id", {}).get("type") == "string"
    ]


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` or ``null``."""
    return {"anyOf": [schema, {"type": "null"}]}


def responses(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every operation's responses. Some (``DELETE /evals/{eval_id}``'s 404, eval runs'
    400) name the bare ``Error`` object; OpenAI, like every other operation in the
    document, wraps it as ``{"error": Error}`` (``ErrorResponse``), which is what the SDK
    parses."""
    for item in doc["paths"].values():
        for operation in item.values():
            if isinstance(operation, dict):
                yield from (operation.get("responses") or {}).values()
