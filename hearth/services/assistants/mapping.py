"""The Assistants vocabulary in the Responses API's terms (``docs/assistants.md``, "From
Assistants to Responses"): tools, ``tool_choice`` and ``response_format`` as a Responses
request takes them, which is how a run calls the runtime, and an assistant as a
``responses.create`` request template (``responses_template``).
"""

from __future__ import annotations

from typing import Any

from openai.types.beta import Assistant

from hearth.errors import InvalidRequest
from hearth.services.assistants.actions import Action


def responses_tool(tool: dict[str, Any], stores: list[str], container: Any) -> Any:
    """An Assistants tool as the Responses runtime takes it (None: nothing to offer)."""
    kind = tool.get("type")
    if kind == "function":
        fn = tool.get("function") or {}
        return {"type": "function", **fn}
    if kind == "file_search":
        if not stores:
            return None
        options = tool.get("file_search") or {}
        out = {"type": "file_search", "vector_store_ids": stores}
        if options.get("max_num_results"):
            out["max_num_results"] = options["max_num_results"]
        return out
    if kind == "code_interpreter":
        return {"type": "code_interpreter", "container": container}
    raise InvalidRequest(
        f"Invalid value: '{kind}'. Supported tool types are 'function', 'file_search' and "
        "'code_interpreter'.",
        param="tools",
        code="invalid_value",
    )


def responses_choice(choice: Any) -> Any:
    """A run's ``tool_choice`` as Responses writes it (a function named at the top)."""
    if isinstance(choice, dict) and choice.get("type") == "function":
        return {"type": "function", "name": (choice.get("function") or {}).get("name")}
    return choice


def text_format(fmt: Any) -> dict[str, Any] | None:
    """An Assistants ``response_format`` as Responses' ``text`` (None: plain text)."""
    if fmt is None or fmt == "auto" or not isinstance(fmt, dict):
        return None
    if fmt.get("type") == "json_schema":
        schema = fmt.get("json_schema") or {}
        return {"format": {"type": "json_schema", **schema}}
    return {"format": {"type": fmt.get("type", "text")}}


def responses_template(assistant: Assistant, actions: list[Action]) -> dict[str, Any]:
    """The ``responses.create`` body that does what a run of ``assistant`` does: ``model``,
    ``instructions``, ``tools`` (code interpreter with the assistant's files in an
    ``auto`` container, file search over its vector stores, its functions and its GPT
    actions' operations as functions, which the caller then runs itself), ``temperature``,
    ``top_p`` and ``text``. A thread's messages go in ``input`` (or a conversation)."""
    resources = assistant.tool_resources
    stores = list(
        (resources.file_search.vector_store_ids or [])
        if resources is not None and resources.file_search is not None
        else []
    )
    files = list(
        (resources.code_interpreter.file_ids or [])
        if resources is not None and resources.code_interpreter is not None
        else []
    )
    container: dict[str, Any] = {"type": "auto", **({"file_ids": files} if files else {})}
    tools = [
        t
        for t in (
            responses_tool(tool.model_dump(mode="json", exclude_none=True), stores, container)
            for tool in assistant.tools
        )
        if t is not None
    ]
    for action in actions:
        tools += [responses_tool(op.tool, stores, container) for op in action.operations.values()]
    body: dict[str, Any] = {"model": assistant.model}
    if assistant.instructions:
        body["instructions"] = assistant.instructions
    if tools:
        body["tools"] = tools
    for key in ("temperature", "top_p"):
        value = getattr(assistant, key)
        if value is not None:
            body[key] = value
    fmt = assistant.response_format
    text = text_format(
        fmt if fmt is None or isinstance(fmt, str) else fmt.model_dump(mode="json", by_alias=True)
    )
    if text is not None:
        body["text"] = text
    return body
