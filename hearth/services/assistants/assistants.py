"""``client.beta.assistants``: create / retrieve / update / list / delete (OpenAI API
reference: Assistants > Assistants), and ``get``, the assistant a run reads.

An assistant is a served model with instructions, tools and the resources its tools use:
files for ``code_interpreter`` (``tool_resources.code_interpreter.file_ids``, at most
20) and one vector store for ``file_search`` (by id, or made from files on create through
``VectorStores``). Everything sent is checked before anything is stored: the model must
be served (404 ``model_not_found``), files and vector stores must be the project's (404
naming the one missing), function ``parameters`` and a ``json_schema`` response format
must be valid JSON Schemas (400). Every call is scoped to the caller's project: another
project's assistant is a 404.

Every object is the SDK's ``Assistant`` with every field set: ``temperature`` and
``top_p`` default to 1.0, ``response_format`` to ``"auto"``, ``tool_resources`` and
``metadata`` to ``{}``.

GPT actions (a Hearth extension, ``actions``): each OpenAPI spec is checked and compiled
(``actions.compile_action``) on create and update; the object shows each spec with its
server, the functions it gives the model and its auth type, never the credentials, which
are stored encrypted beside it. An operation's name may not repeat another action's or
one of the assistant's functions (400).
"""

from __future__ import annotations

import asyncio
import builtins
import copy
import time
from collections.abc import Callable, Sequence
from typing import Any

from openai.types.beta import Assistant, AssistantDeleted

from hearth.domain import CursorPage, PageParams, Principal
from hearth.engine.registry import ModelRegistry
from hearth.errors import InvalidRequest, NotFound
from hearth.services.assistants.actions import (
    Action,
    ActionCaller,
    Secrets,
    compile_action,
    load_spec,
)
from hearth.services.assistants.mapping import responses_template
from hearth.services.assistants.params import (
    ActionParam,
    ApiKeyAuth,
    AssistantCreateParams,
    AssistantUpdateParams,
    BearerAuth,
    FunctionTool,
    JsonSchemaFormat,
    NewFileSearchResources,
    NewToolResources,
    PlainFormat,
    ToolResources,
)
from hearth.services.assistants.params import Tool as ToolParam
from hearth.services.chat.schemas import check_schema
from hearth.services.files import Files
from hearth.services.vector_stores.params import CreateParams as VectorStoreCreateParams
from hearth.services.vector_stores.service import VectorStores
from hearth.store.assistants import AssistantRepository
from hearth.store.ids import new_id

DEFAULT_TEMPERATURE = 1.0
DEFAULT_TOP_P = 1.0


def tools_json(tools: Sequence[ToolParam]) -> builtins.list[dict[str, Any]]:
    """``tools`` as the object shows them (the fields sent); ``InvalidRequest``
    (``tools[i].function.parameters``) for parameters that are not a JSON Schema."""
    out = []
    for i, tool in enumerate(tools):
        if isinstance(tool, FunctionTool) and tool.function.parameters is not None:
            check_schema(
                tool.function.parameters,
                f"function '{tool.function.name}'",
                f"tools[{i}].function.parameters",
            )
        out.append(tool.model_dump(mode="json", exclude_none=True))
    return out


def response_format_json(fmt: str | PlainFormat | JsonSchemaFormat | None) -> Any:
    """``response_format`` as the object shows it (``"auto"`` when not sent);
    ``InvalidRequest`` for a ``json_schema`` whose ``schema`` is not a JSON Schema."""
    if fmt is None or isinstance(fmt, str):
        return "auto"
    if isinstance(fmt, JsonSchemaFormat) and fmt.json_schema.schema_ is not None:
        check_schema(
            fmt.json_schema.schema_,
            f"response_format '{fmt.json_schema.name}'",
            "response_format.json_schema.schema",
        )
    return fmt.model_dump(mode="json", exclude_none=True, by_alias=True)


async def tool_resources_json(
    caller: Principal,
    sent: ToolResources | NewToolResources,
    files: Files,
    stores: VectorStores,
    param: str = "tool_resources",
) -> dict[str, Any]:
    """The tools ``sent`` (only those) as the object shows them:
    ``{"code_interpreter": {"file_ids"}, "file_search": {"vector_store_ids"}}``. Every
    file and vector store must be the project's (``NotFound`` naming it); a vector store
    to make from files is made last, once everything else has passed."""
    out: dict[str, Any] = {}
    if sent.code_interpreter is not None:
        file_ids = builtins.list(dict.fromkeys(sent.code_interpreter.file_ids or []))
        await _check_files(caller, files, file_ids, f"{param}.code_interpreter.file_ids")
        out["code_interpreter"] = {"file_ids": file_ids}
    search = sent.file_search
    if search is None:
        return out
    store_ids = builtins.list(search.vector_store_ids or [])
    for i, store_id in enumerate(store_ids):
        try:
            await asyncio.to_thread(stores.row, caller, store_id)
        except NotFound:
            raise NotFound(
                f"No vector store found with id '{store_id}'.",
                param=f"{param}.file_search.vector_store_ids[{i}]",
            ) from None
    if isinstance(search, NewFileSearchResources) and search.vector_stores:
        for i, new in enumerate(search.vector_stores):
            where = f"{param}.file_search.vector_stores[{i}].file_ids"
            await _check_files(caller, files, new.file_ids or [], where)
        for new in search.vector_stores:
            made = await stores.create(
                caller,
                VectorStoreCreateParams(
                    file_ids=new.file_ids,
                    chunking_strategy=new.chunking_strategy,
                    metadata=new.metadata,
                ),
            )
            store_ids.append(made.id)
    out["file_search"] = {"vector_store_ids": store_ids}
    return out


async def _check_files(
    caller: Principal, files: Files, file_ids: Sequence[str], param: str
) -> None:
    for i, file_id in enumerate(file_ids):
        if not await asyncio.to_thread(files.exists, caller, file_id):
            raise NotFound(f"No file found with id '{file_id}'.", param=f"{param}[{i}]")


def function_names(tools: Sequence[dict[str, Any]]) -> set[str]:
    """The names of the ``function`` tools among ``tools`` (tools as JSON)."""
    return {
        str((t.get("function") or {}).get("name")) for t in tools if t.get("type") == "function"
    }


def _not_found(assistant_id: str) -> NotFound:
    return NotFound(f"No assistant found with id '{assistant_id}'.", param="assistant_id")


class Assistants:
    """Assistants of the caller's project."""

    def __init__(
        self,
        repo: AssistantRepository,
        registry: ModelRegistry,
        files: Files,
        vector_stores: VectorStores,
        secrets: Secrets,
        caller: ActionCaller,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._repo = repo
        self._registry = registry
        self._files = files
        self._stores = vector_stores
        self._secrets = secrets
        self.action_caller = caller
        self._clock = clock

    def _actions(
        self, sent: Sequence[ActionParam], tools: Sequence[dict[str, Any]]
    ) -> tuple[builtins.list[dict[str, Any]], dict[str, Any] | None]:
        """``actions`` as the object shows them and as stored (``gpt``: specs and
        encrypted credentials; None without actions). ``InvalidRequest`` naming the
        action for a bad spec, a server actions may not call, or a repeated name."""
        shown: builtins.list[dict[str, Any]] = []
        stored: builtins.list[dict[str, Any]] = []
        names = function_names(tools)
        for i, action in enumerate(sent):
            param = f"actions[{i}].openapi"
            spec = load_spec(action.openapi, param)
            url, operations = compile_action(spec, param)
            self.action_caller.check_server(url, f"{param}.servers")
            for name in operations:
                if name in names:
                    raise InvalidRequest(
                        f"The function name '{name}' is used twice (actions' operationIds "
                        "and the assistant's functions share one namespace).",
                        param=param,
                    )
                names.add(name)
            auth: dict[str, Any] = {"type": "none"}
            secret: str | None = None
            if isinstance(action.auth, ApiKeyAuth):
                auth = {"type": "api_key", "header": action.auth.header or "X-API-Key"}
                secret = action.auth.api_key
            elif isinstance(action.auth, BearerAuth):
                auth = {"type": "bearer"}
                secret = action.auth.token
            shown.append(
                {"openapi": spec, "server_url": url, "functions": list(operations), "auth": auth}
            )
            kept = dict(auth)
            if secret is not None:
                kept["secret"] = self._secrets.encrypt(secret)
            stored.append({"openapi": spec, "auth": kept})
        return shown, ({"actions": stored} if stored else None)

    async def actions(self, caller: Principal, assistant_id: str) -> builtins.list[Action]:
        """The assistant's actions as a run calls them (credentials decrypted); empty
        when it has none or no longer exists."""
        row = await asyncio.to_thread(self._repo.get, caller.project_id, assistant_id)
        if row is None or not row.gpt:
            return []
        out = []
        for i, stored in enumerate(row.gpt.get("actions") or []):
            url, operations = compile_action(
                stored["openapi"], f"actions[{i}].openapi", validated=True
            )
            auth = {k: v for k, v in stored["auth"].items() if k != "secret"}
            if "secret" in stored["auth"]:
                auth["secret"] = self._secrets.decrypt(stored["auth"]["secret"])
            out.append(Action(url, operations, auth))
        return out

    async def create(self, caller: Principal, params: AssistantCreateParams) -> Assistant:
        """A new assistant ``asst_...``. 404 ``model_not_found`` for a model not served
        to the caller's organization; 404 for a file or vector store the project does not
        have; 400 for a function's ``parameters`` or a ``json_schema`` that is not a
        JSON Schema; 503 when ``tool_resources.file_search.vector_stores`` asks for a
        store and no embedding model is served."""
        await self._registry.aget(params.model, caller.organization_id)
        tools = tools_json(params.tools or [])
        actions, gpt = self._actions(params.actions or [], tools)
        fmt = response_format_json(params.response_format)
        resources = (
            await tool_resources_json(caller, params.tool_resources, self._files, self._stores)
            if params.tool_resources is not None
            else {}
        )
        assistant = {
            "id": new_id("asst_"),
            "object": "assistant",
            "created_at": int(self._clock()),
            "name": params.name,
            "description": params.description,
            "model": params.model,
            "instructions": params.instructions,
            "tools": tools,
            "tool_resources": resources,
            "metadata": params.metadata or {},
            "temperature": _or(params.temperature, DEFAULT_TEMPERATURE),
            "top_p": _or(params.top_p, DEFAULT_TOP_P),
            "response_format": fmt,
        }
        if actions:
            assistant["actions"] = actions
        obj = Assistant.model_validate(assistant)
        await asyncio.to_thread(self._repo.insert, caller.project_id, assistant, gpt)
        return obj

    async def responses_template(self, caller: Principal, assistant_id: str) -> dict[str, Any]:
        """The assistant as a ``responses.create`` body (``mapping.responses_template``);
        ``NotFound`` (``assistant_id``) when the project has no such assistant."""
        assistant = await self.get(caller, assistant_id)
        return responses_template(assistant, await self.actions(caller, assistant_id))

    async def get(self, caller: Principal, assistant_id: str) -> Assistant:
        """The project's assistant (what a run reads); ``NotFound`` (``assistant_id``)
        otherwise."""
        return Assistant.model_validate(await self._object(caller, assistant_id))

    async def retrieve(self, caller: Principal, assistant_id: str) -> Assistant:
        """``beta.assistants.retrieve``: ``get``."""
        return await self.get(caller, assistant_id)

    async def update(
        self, caller: Principal, assistant_id: str, params: AssistantUpdateParams
    ) -> Assistant:
        """Replace the fields sent. ``tools`` and ``metadata`` are replaced whole;
        ``tool_resources`` per tool (a tool not sent keeps its resources; ``null``
        removes them all); ``null`` for ``temperature``, ``top_p`` or
        ``response_format`` restores the default, for ``model`` changes nothing.
        ``actions`` are replaced whole (credentials included: send them again). The
        checks of ``create`` apply to what is sent."""
        row = await asyncio.to_thread(self._repo.get, caller.project_id, assistant_id)
        if row is None:
            raise _not_found(assistant_id)
        assistant, gpt = copy.deepcopy(row.object), row.gpt
        sent = params.model_fields_set
        if params.model is not None:
            await self._registry.aget(params.model, caller.organization_id)
            assistant["model"] = params.model
        for key in ("name", "description", "instructions"):
            if key in sent:
                assistant[key] = getattr(params, key)
        if "tools" in sent:
            assistant["tools"] = tools_json(params.tools or [])
        if "actions" in sent:
            actions, gpt = self._actions(params.actions or [], assistant["tools"])
            assistant.pop("actions", None)
            if actions:
                assistant["actions"] = actions
        elif "tools" in sent and gpt:
            taken = {n for a in assistant.get("actions") or [] for n in a["functions"]}
            clash = sorted(taken & function_names(assistant["tools"]))
            if clash:
                raise InvalidRequest(
                    f"The function name '{clash[0]}' is an action's operationId.",
                    param="tools",
                )
        if "response_format" in sent:
            assistant["response_format"] = response_format_json(params.response_format)
        if "temperature" in sent:
            assistant["temperature"] = _or(params.temperature, DEFAULT_TEMPERATURE)
        if "top_p" in sent:
            assistant["top_p"] = _or(params.top_p, DEFAULT_TOP_P)
        if "metadata" in sent:
            assistant["metadata"] = params.metadata or {}
        if "tool_resources" in sent:
            assistant["tool_resources"] = (
                {
                    **(assistant.get("tool_resources") or {}),
                    **await tool_resources_json(
                        caller, params.tool_resources, self._files, self._stores
                    ),
                }
                if params.tool_resources is not None
                else {}
            )
        obj = Assistant.model_validate(assistant)
        if not await asyncio.to_thread(
            self._repo.update, caller.project_id, assistant_id, assistant, gpt
        ):
            raise _not_found(assistant_id)  # deleted meanwhile
        return obj

    async def list(self, caller: Principal, page: PageParams) -> CursorPage[Assistant]:
        """A page of the project's assistants."""
        rows = await asyncio.to_thread(self._repo.page, caller.project_id, page)
        return rows.to(lambda row: Assistant.model_validate(row.object))

    async def delete(self, caller: Principal, assistant_id: str) -> AssistantDeleted:
        """Delete the assistant (``NotFound`` then and afterwards). Its vector stores and
        files stay; threads and their runs stay too."""
        if not await asyncio.to_thread(self._repo.delete, caller.project_id, assistant_id):
            raise _not_found(assistant_id)
        return AssistantDeleted(id=assistant_id, object="assistant.deleted", deleted=True)

    async def _object(self, caller: Principal, assistant_id: str) -> dict[str, Any]:
        row = await asyncio.to_thread(self._repo.get, caller.project_id, assistant_id)
        if row is None:
            raise _not_found(assistant_id)
        return copy.deepcopy(row.object)


def _or(value: float | None, default: float) -> float:
    return default if value is None else value
