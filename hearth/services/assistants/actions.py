"""GPT actions: an assistant's OpenAPI 3.x specs, each operation offered to the model as a
function tool that Hearth itself calls over HTTP (as ChatGPT does for a GPT's actions;
a Hearth extension of the Assistants API, ``docs/assistants.md``).

``compile_action`` checks a spec (``openapi-spec-validator``) and turns every operation
into a function: its ``operationId`` is the name, its ``summary``/``description`` the
description, and its parameters (path, query, header) and JSON request body's properties
one flat JSON Schema object (schemas under ``components.schemas`` travel as ``$defs``).
``ActionCaller.call`` sends one call: arguments placed back into path, query, headers and
body; the action's credentials (none, an API key in a header, or a bearer token) are
added; only allowed hosts are reached (``HEARTH_ACTION_HOSTS``, else public addresses
only: never loopback, private or link-local, so a model cannot reach the host's own
services); redirects are not followed; a slow API times out and a large answer is
refused. Whatever happens, the model gets a string: the body of a 2xx answer, else a
JSON ``{"error": ...}`` it can read. Credentials are stored encrypted (``Secrets``,
Fernet) and never shown.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import re
import socket
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx2
import yaml
from cryptography.fernet import Fernet, InvalidToken
from openapi_spec_validator import validate as validate_spec
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from hearth.errors import InvalidRequest
from hearth.services.chat.schemas import check_schema

METHODS = ("get", "post", "put", "patch", "delete")
"""HTTP methods an operation may use."""
NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
"""A function name (an ``operationId`` must be one)."""
MAX_OPERATIONS = 30
"""Operations one spec may have (ChatGPT's limit per GPT action)."""
MAX_SPEC_BYTES = 1_000_000
"""Largest spec text accepted (bytes)."""
MAX_SPEC_NODES = 100_000
"""Most values (objects, arrays, scalars) a spec may hold."""


@dataclass(frozen=True)
class Operation:
    """One operation of a spec as a function: ``name`` (the ``operationId``), the HTTP
    ``method`` and ``path`` template, which arguments go in the path, the query and the
    headers, whether the rest is the JSON body (``body``: its properties are arguments;
    ``body_arg``: the body is the one argument of that name), and the function tool
    (``{"type": "function", "function": {...}}``) offered to the model."""

    name: str
    method: str
    path: str
    in_path: tuple[str, ...]
    in_query: tuple[str, ...]
    in_header: tuple[str, ...]
    body: bool
    body_arg: str | None
    tool: dict[str, Any]


@dataclass(frozen=True)
class Action:
    """One compiled spec: its server URL, operations by name and credentials (``auth``:
    ``{"type": "none" | "api_key" | "bearer", "header"?, "secret"?}``, the secret in
    clear, only in memory)."""

    server_url: str
    operations: dict[str, Operation]
    auth: dict[str, Any] = field(default_factory=dict)


def load_spec(sent: Any, param: str) -> dict[str, Any]:
    """The spec as an object: sent as one, or as JSON or YAML text. ``InvalidRequest``
    (``param``) when it is neither or is too large."""
    spec = sent
    if isinstance(sent, str):
        if len(sent.encode()) > MAX_SPEC_BYTES:
            raise InvalidRequest(f"The OpenAPI spec is over {MAX_SPEC_BYTES} bytes.", param=param)
        try:
            spec = yaml.safe_load(sent)  # YAML is a superset of JSON
        except yaml.YAMLError as exc:
            raise InvalidRequest(
                f"The OpenAPI spec is not JSON or YAML: {exc}", param=param
            ) from None
    if not isinstance(spec, dict):
        raise InvalidRequest("The OpenAPI spec must be an object.", param=param)
    # counted, not serialized: YAML aliases can make a small text a huge tree
    stack: list[Any] = [spec]
    nodes = 0
    while stack:
        node = stack.pop()
        nodes += 1
        if nodes > MAX_SPEC_NODES:
            raise InvalidRequest(f"The OpenAPI spec has over {MAX_SPEC_NODES} values.", param=param)
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return spec


def compile_action(
    spec: dict[str, Any], param: str, *, validated: bool = False
) -> tuple[str, dict[str, Operation]]:
    """``(server URL, operations by name)`` of an OpenAPI 3.0 / 3.1 document;
    ``validated``: a stored spec that passed these checks at create, not checked again
    by the validator (a few ms per spec on every run).

    ``InvalidRequest`` (``param``) when the document is not valid OpenAPI, has no
    absolute http(s) ``servers[0].url``, an operation lacks an ``operationId`` (or it is
    not a function name, or repeats), a schema is not a JSON Schema, a ``$ref`` points
    outside ``components``, or there are more than ``MAX_OPERATIONS`` operations."""
    if not validated:
        _validate(spec, param)
    servers = spec.get("servers") or []
    url = str(servers[0].get("url", "")) if servers else ""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequest(
            "The OpenAPI spec needs 'servers[0].url', an absolute http(s) URL.",
            param=f"{param}.servers",
        )
    defs = (spec.get("components") or {}).get("schemas") or {}
    operations: dict[str, Operation] = {}
    for path, item in (spec.get("paths") or {}).items():
        shared = item.get("parameters") or []
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            where = f"{param}.paths.{path}.{method}"
            name = op.get("operationId")
            if not isinstance(name, str) or not NAME.match(name):
                raise InvalidRequest(
                    "Every operation needs an 'operationId' of letters, digits, '_' or "
                    "'-' (at most 64): it is the function's name.",
                    param=f"{where}.operationId",
                )
            if name in operations:
                raise InvalidRequest(
                    f"Two operations have the operationId '{name}'.",
                    param=f"{where}.operationId",
                )
            operations[name] = _operation(spec, defs, name, method, path, shared, op, where)
    if not operations:
        raise InvalidRequest("The OpenAPI spec has no operations.", param=f"{param}.paths")
    if len(operations) > MAX_OPERATIONS:
        raise InvalidRequest(
            f"The OpenAPI spec has {len(operations)} operations; at most {MAX_OPERATIONS}.",
            param=f"{param}.paths",
        )
    return url.rstrip("/"), operations


def _validate(spec: dict[str, Any], param: str) -> None:
    """The document is OpenAPI 3.0 / 3.1 by ``openapi-spec-validator``, with no ``$ref``
    outside itself; ``InvalidRequest`` (``param``) naming what is wrong."""
    version = str(spec.get("openapi", ""))
    if not version.startswith(("3.0", "3.1")):
        raise InvalidRequest(
            "Only OpenAPI 3.0 and 3.1 documents are supported ('openapi': '3.1.0').",
            param=f"{param}.openapi",
        )
    remote = next(_remote_refs(spec), None)
    if remote is not None:
        # the validator would fetch it: a spec must never make Hearth reach out
        raise InvalidRequest(
            f"'$ref' must point inside the document (got '{remote}').", param=param
        )
    try:
        validate_spec(spec)
    except OpenAPIValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path)
        raise InvalidRequest(
            f"The OpenAPI spec is invalid{f' at {where}' if where else ''}: {exc.message}",
            param=param,
        ) from None


def _remote_refs(node: Any) -> Iterator[str]:
    """Every ``$ref`` that points outside the document."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and not value.startswith("#"):
                yield value
            else:
                yield from _remote_refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _remote_refs(value)


def _resolve(spec: dict[str, Any], node: Any, where: str) -> Any:
    """``node``, or what its local ``$ref`` (``#/components/...``) points to."""
    seen = 0
    while isinstance(node, dict) and isinstance(node.get("$ref"), str):
        ref = node["$ref"]
        if not ref.startswith("#/components/") or seen > 16:
            raise InvalidRequest(
                f"'$ref' must point into '#/components/' (got '{ref}').", param=where
            )
        node = spec
        for key in ref[2:].split("/"):
            key = key.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or key not in node:
                raise InvalidRequest(f"'$ref' '{ref}' points to nothing.", param=where)
            node = node[key]
        seen += 1
    return node


def _schema(node: Any) -> Any:
    """A spec schema as a function's JSON Schema: component refs become ``$defs`` refs."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                value = value.replace("#/components/schemas/", "#/$defs/", 1)
            elif key in ("example", "examples", "xml", "externalDocs"):
                continue
            out[key] = _schema(value)
        return out
    if isinstance(node, list):
        return [_schema(v) for v in node]
    return node


def _operation(
    spec: dict[str, Any],
    defs: dict[str, Any],
    name: str,
    method: str,
    path: str,
    shared: list[Any],
    op: dict[str, Any],
    where: str,
) -> Operation:
    properties: dict[str, Any] = {}
    required: list[str] = []
    placed: dict[str, list[str]] = {"path": [], "query": [], "header": []}
    params = {}
    for raw in [*shared, *(op.get("parameters") or [])]:
        p = _resolve(spec, raw, f"{where}.parameters")
        params[(p.get("in"), p.get("name"))] = p  # an operation's own override the path's
    for (where_in, pname), p in params.items():
        if where_in not in placed:
            continue  # cookies are not sent
        placed[where_in].append(pname)
        schema = _schema(p.get("schema") or {"type": "string"})
        if p.get("description") and isinstance(schema, dict):
            schema = {**schema, "description": p["description"]}
        properties[pname] = schema
        if p.get("required") or where_in == "path":
            required.append(pname)
    body, body_arg = False, None
    request = _resolve(spec, op.get("requestBody"), f"{where}.requestBody")
    if isinstance(request, dict):
        content = request.get("content") or {}
        media = content.get("application/json") or next(
            (v for k, v in content.items() if k.endswith("+json")), None
        )
        if media is None:
            raise InvalidRequest(
                "Only JSON request bodies are supported ('application/json').",
                param=f"{where}.requestBody.content",
            )
        schema = media.get("schema") or {}
        target = _resolve(spec, schema, f"{where}.requestBody")
        if isinstance(target, dict) and target.get("type") == "object" and "properties" in target:
            body = True
            for key, sub in target["properties"].items():
                if key in properties:
                    raise InvalidRequest(
                        f"The body property '{key}' has the name of a parameter.",
                        param=f"{where}.requestBody",
                    )
                properties[key] = _schema(sub)
            required += [r for r in target.get("required") or [] if r in properties]
        else:
            body_arg = "body"
            properties["body"] = _schema(schema)
            if request.get("required"):
                required.append("body")
    # the operation takes these and nothing else: the model may not invent arguments
    parameters: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        parameters["required"] = list(dict.fromkeys(required))
    if defs:
        parameters["$defs"] = _schema(defs)
    check_schema(parameters, f"operation '{name}'", where)
    description = " ".join(
        s for s in (op.get("summary"), op.get("description")) if isinstance(s, str) and s
    )
    function: dict[str, Any] = {"name": name, "parameters": parameters}
    if description:
        function["description"] = description[:1024]
    return Operation(
        name=name,
        method=method.upper(),
        path=path,
        in_path=tuple(placed["path"]),
        in_query=tuple(placed["query"]),
        in_header=tuple(placed["header"]),
        body=body,
        body_arg=body_arg,
        tool={"type": "function", "function": function},
    )


class Secrets:
    """Credentials encrypted at rest (Fernet: AES-128-CBC + HMAC-SHA256). The key is
    ``HEARTH_SECRET_KEY`` when set (replicas share it), else one made on first use in
    ``<data_dir>/secret.key`` (mode 0600)."""

    def __init__(self, key: str | None, data_dir: Path) -> None:
        self._key = key
        self._file = data_dir / "secret.key"
        self._fernet: Fernet | None = None

    def _get(self) -> Fernet:
        if self._fernet is None:
            key = self._key
            if key is None:
                try:
                    fd = os.open(self._file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                except FileExistsError:
                    key = self._file.read_text().strip()
                else:
                    key = Fernet.generate_key().decode()
                    with os.fdopen(fd, "w") as fh:
                        fh.write(key + "\n")
            self._fernet = Fernet(key.encode())
        return self._fernet

    def encrypt(self, text: str) -> str:
        """``text`` as a Fernet token."""
        return self._get().encrypt(text.encode()).decode()

    def decrypt(self, token: str) -> str | None:
        """The text of a token this key made; None when another key made it."""
        try:
            return self._get().decrypt(token.encode()).decode()
        except InvalidToken:
            return None


class ActionCaller:
    """Sends action calls. ``hosts``: hosts (``name`` or ``name:port``) actions may reach
    whatever their addresses; other hosts only when every address they resolve to is
    public. ``timeout`` in seconds per call; ``max_bytes`` the largest answer read."""

    def __init__(self, hosts: Iterable[str], timeout: float, max_bytes: int) -> None:
        self.hosts = {h.lower() for h in hosts}
        self.timeout = timeout
        self.max_bytes = max_bytes

    def allowed(self, url: str) -> bool:
        """Whether ``url``'s host is on the list (a name or ``name:port``)."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return host in self.hosts or f"{host}:{port}" in self.hosts

    def check_server(self, url: str, param: str) -> None:
        """At create: a server given as an address must be allowed or public
        (``InvalidRequest``); names are resolved at each call."""
        if self.allowed(url):
            return
        host = urlsplit(url).hostname or ""
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            if host.lower() == "localhost":
                raise InvalidRequest(_not_allowed(host), param=param) from None
            return
        if not address.is_global:
            raise InvalidRequest(_not_allowed(host), param=param)

    async def _public(self, host: str, port: int) -> bool:
        try:
            loop = asyncio.get_running_loop()
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError:
            return False
        addresses = {ipaddress.ip_address(info[4][0]) for info in infos}
        return bool(addresses) and all(a.is_global for a in addresses)

    async def call(self, action: Action, name: str, arguments: str) -> str:
        """Call operation ``name`` with the model's ``arguments`` (a JSON object as text);
        what the model reads back (never raises for what the API or network did)."""
        op = action.operations[name]
        try:
            args = json.loads(arguments or "{}")
        except json.JSONDecodeError:
            return _error("the arguments are not JSON")
        if not isinstance(args, dict):
            return _error("the arguments must be a JSON object")
        path = op.path
        for key in op.in_path:
            if key not in args:
                return _error(f"missing the path parameter '{key}'")
            path = path.replace("{" + key + "}", quote(str(args[key]), safe=""))
        url = action.server_url + path
        query = {k: _text(args[k]) for k in op.in_query if k in args}
        headers = {k: _text(args[k]) for k in op.in_header if k in args}
        taken = {*op.in_path, *op.in_query, *op.in_header}
        body: Any = None
        if op.body_arg is not None:
            body = args.get(op.body_arg)
        elif op.body:
            body = {k: v for k, v in args.items() if k not in taken}
        auth = action.auth
        if auth.get("type") == "bearer" and auth.get("secret"):
            headers["Authorization"] = f"Bearer {auth['secret']}"
        elif auth.get("type") == "api_key" and auth.get("secret"):
            headers[auth.get("header") or "X-API-Key"] = auth["secret"]
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        if not self.allowed(url) and not await self._public(parts.hostname or "", port):
            return _error(_not_allowed(parts.hostname or ""))
        try:
            # a client per call: runs execute on whichever event loop serves them
            async with (
                httpx2.AsyncClient(
                    timeout=self.timeout, follow_redirects=False, trust_env=False
                ) as client,
                client.stream(
                    op.method,
                    url,
                    params=query,
                    headers=headers,
                    json=body if (op.body or op.body_arg) and body is not None else None,
                ) as response,
            ):
                data = bytearray()
                async for chunk in response.aiter_bytes():
                    data += chunk
                    if len(data) > self.max_bytes:
                        return _error(
                            f"the API's answer is larger than {self.max_bytes} bytes",
                            status=response.status_code,
                        )
                text = bytes(data).decode(response.encoding or "utf-8", errors="replace")
                if response.is_success:
                    return text
                return _error(f"the API answered HTTP {response.status_code}", text)
        except httpx2.TimeoutException:
            return _error(f"the API did not answer within {self.timeout:g} s")
        except httpx2.HTTPError as exc:
            return _error(f"the API could not be reached: {type(exc).__name__}")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _not_allowed(host: str) -> str:
    return (
        f"Actions may not call '{host}': it is not in HEARTH_ACTION_HOSTS and is not a "
        "public address."
    )


def _error(message: str, body: str | None = None, status: int | None = None) -> str:
    out: dict[str, Any] = {"error": message}
    if status is not None:
        out["status"] = status
    if body:
        out["body"] = body[:2000]
    return json.dumps(out)
