"""Errors in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``.

Services and the engine raise these; ``hearth.api.errors`` renders them, in one place.
Status codes and types follow the OpenAI API reference ("Error codes").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from pydantic import ValidationError


class HearthError(Exception):
    """Base of every error a client may see; subclasses fix status and type."""

    status_code: ClassVar[int] = 500
    error_type: ClassVar[str] = "server_error"
    default_code: ClassVar[str | None] = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code if code is not None else self.default_code

    def to_dict(self) -> dict[str, Any]:
        """The wire body: ``{"error": {"message", "type", "param", "code"}}``."""
        return {
            "error": {
                "message": self.message,
                "type": self.error_type,
                "param": self.param,
                "code": self.code,
            }
        }


class InvalidRequest(HearthError):
    """400: a bad value, type or combination in the request."""

    status_code = 400
    error_type = "invalid_request_error"


class ContextLengthExceeded(InvalidRequest):
    """400: prompt + max_tokens do not fit in the model's context."""

    default_code = "context_length_exceeded"


class AuthenticationFailed(HearthError):
    """401: missing or unknown API key."""

    status_code = 401
    error_type = "invalid_request_error"
    default_code = "invalid_api_key"


class InsufficientPermissions(HearthError):
    """401: a valid key without the scope a route needs (a restricted or read-only key, a
    project key on the Admin API, an admin key elsewhere), in OpenAI's wording."""

    status_code = 401
    error_type = "invalid_request_error"

    def __init__(self, missing: str) -> None:
        super().__init__(
            f"You have insufficient permissions for this operation. Missing scopes: {missing}. "
            "Check that you have the correct role in your organization (Reader, Writer, "
            "Owner) and project (Member, Owner), and if you're using a restricted API key, "
            "that it has the necessary scopes."
        )


class PermissionDenied(HearthError):
    """403: the key may not touch this resource."""

    status_code = 403
    error_type = "invalid_request_error"


class NotFound(HearthError):
    """404: no such resource (or route)."""

    status_code = 404
    error_type = "invalid_request_error"


class ModelNotFound(NotFound):
    """404: the requested model id is not served here."""

    default_code = "model_not_found"


class PayloadTooLarge(HearthError):
    """413: request body or upload over the limit."""

    status_code = 413
    error_type = "invalid_request_error"


class RateLimited(HearthError):
    """429: too many requests queued, or a rate limit reached: ``kind`` is the body's
    ``type`` (``requests`` or ``tokens``), ``retry_after`` the seconds until there is room
    (sent as ``Retry-After``; None: the default)."""

    status_code = 429
    error_type = "requests"
    default_code = "rate_limit_exceeded"

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        kind: str = "requests",
        retry_after: float | None = None,
    ):
        super().__init__(message, param=param, code=code)
        self.kind = kind
        self.retry_after = retry_after

    def to_dict(self) -> dict[str, Any]:
        body = super().to_dict()
        body["error"]["type"] = self.kind
        return body


class ServiceUnavailable(HearthError):
    """503: the engine is shutting down or overloaded."""

    status_code = 503
    error_type = "server_error"
    default_code = "engine_unavailable"


class InternalError(HearthError):
    """500: a bug; the message never carries a traceback."""


_TYPE_TAGS = frozenset({"str", "int", "float", "bool", "list", "dict", "none", "bytes"})
"""Union members of plain types, as pydantic names them in a location."""


def _is_tag(part: Any) -> bool:
    """A union member or validator name pydantic puts in a location (``AudioPCM``,
    ``function-after[...]``), not a field of the request."""
    text = str(part)
    return not isinstance(part, int) and (
        text[:1].isupper() or "[" in text or "-" in text or text in _TYPE_TAGS
    )


def json_path(loc: Sequence[Any], prefix: str = "") -> str | None:
    """A pydantic location as the request's JSON path: ``messages[0].content``, under
    ``prefix`` (e.g. ``data_source``); a leading ``body`` / ``query`` is dropped."""
    out = prefix
    for index, part in enumerate(loc):
        if (index == 0 and part in ("body", "query", "path")) or _is_tag(part):
            continue
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or None


def array_above_max_length(param: str | None, maximum: object, actual: object) -> InvalidRequest:
    """OpenAI's 400 for a list over its cap (e.g. 128 ``tools``), in OpenAI's wording."""
    return InvalidRequest(
        f"Invalid '{param}': array too long. Expected an array with maximum length "
        f"{maximum}, but got an array with length {actual} instead.",
        param=param,
        code="array_above_max_length",
    )


def invalid_request(
    errors: ValidationError | Sequence[Any],
    prefix: str = "",
) -> InvalidRequest:
    """The first problem of a client's input, as pydantic found it, as a 400 whose
    ``param`` is its JSON path under ``prefix``: ``missing`` -> "Missing required
    parameter", ``extra_forbidden`` -> ``unknown_parameter``, ``literal_error`` /
    ``enum`` -> ``invalid_value``, malformed JSON -> "could not parse". The one converter
    for input checked by pydantic; a ``ValidationError`` that escapes it is a bug (500)."""
    items = errors.errors() if isinstance(errors, ValidationError) else errors
    first = items[0]
    if first["type"] == "json_invalid":
        return InvalidRequest(
            "We could not parse the JSON body of your request. The request body must be valid JSON."
        )
    param = json_path(first["loc"], prefix)
    if first["type"] == "missing":
        return InvalidRequest(f"Missing required parameter: '{param}'.", param=param)
    if first["type"] == "extra_forbidden":
        return InvalidRequest(
            f"Unknown parameter: '{param}'.", param=param, code="unknown_parameter"
        )
    if first["type"] in ("literal_error", "enum"):
        return InvalidRequest(
            f"Invalid value: '{first.get('input')}'. {first['msg']}.",
            param=param,
            code="invalid_value",
        )
    if first["type"] == "too_long" and isinstance(first.get("input"), list):
        ctx = first.get("ctx", {})
        return array_above_max_length(
            param, ctx.get("max_length"), ctx.get("actual_length", len(first["input"]))
        )
    return InvalidRequest(f"Invalid '{param}': {first['msg']}.", param=param)
