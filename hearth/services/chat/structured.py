"""What a choice's text must be: plain text, JSON (mode or schema) or tool calls.

``plan_output`` turns ``response_format``, ``tools``, ``tool_choice`` and
``parallel_tool_calls`` (or the deprecated ``functions`` and ``function_call``) into one
grammar for the engine plus the instructions the model reads (OpenAI API reference: Chat >
Create; Structured Outputs and Function calling guides). Every check here raises
``InvalidRequest`` before generation starts.

A schema with ``strict: true`` is enforced or refused (400). A schema without it is
enforced too when Hearth can enforce it (``enforce_schemas``), else it is only shown to
the model, and the plan says why (``not_enforced``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from hearth.engine.constraints import CompilesGrammars, Grammar, GrammarError
from hearth.errors import InvalidRequest
from hearth.services.chat.params import (
    ChatCompletionParams,
    JsonSchemaFormat,
    NamedFunction,
    NamedToolChoice,
    Tool,
)
from hearth.services.chat.schemas import closed, enforceable, lark_json
from hearth.services.chat.tool_calls import CLOSE, OPEN

log = logging.getLogger(__name__)

ANY_OBJECT: dict[str, Any] = {"type": "object"}
# Tools on: a text answer may not start with "<", so it can never be a malformed call.
_TEXT = r"/[^<](.|\n)*/"


@dataclass(frozen=True)
class OutputPlan:
    """``grammar``: masks every choice (None: free text); ``instructions``: system text
    for the model; ``tool_calls``: parse choices for ``<tool_call>`` blocks;
    ``functions``: answer them as the deprecated ``message.function_call``;
    ``not_enforced``: why a non-strict schema is only a hint (empty: all enforced)."""

    grammar: Grammar | None = None
    instructions: str | None = None
    tool_calls: bool = False
    functions: bool = False
    not_enforced: tuple[str, ...] = ()


@dataclass
class _Planning:
    """One request's planning state: its params, compiler and setting, and the reasons
    non-strict schemas were left as hints."""

    params: ChatCompletionParams
    compiler: CompilesGrammars
    enforce: bool
    hints: list[str] = field(default_factory=list)

    def hinted(self, schema: Any, where: str, param: str) -> dict[str, Any] | None:
        """A non-strict schema ready to enforce, or None (a hint: the reason is noted)."""
        if not self.enforce:
            self.hints.append(f"{where}: enforcement of non-strict schemas is off")
            return None
        try:
            return enforceable(self.compiler, closed(schema), where, param)
        except InvalidRequest as exc:
            self.hints.append(exc.message)
            return None


def legacy_functions(params: ChatCompletionParams) -> ChatCompletionParams:
    """``params`` with the deprecated ``functions`` / ``function_call`` as the ``tools`` /
    ``tool_choice`` they stand for (one call at most); raises ``InvalidRequest`` where
    they are misused."""
    if params.functions is None:
        if params.function_call is not None:
            raise InvalidRequest(
                "Invalid value for 'function_call': 'function_call' is only allowed "
                "when 'functions' are specified.",
                param="function_call",
            )
        return params
    if params.tools is not None or params.tool_choice is not None:
        raise InvalidRequest(
            "'functions' and 'function_call' cannot be used together with 'tools' or "
            "'tool_choice'; use 'tools' alone.",
            param="functions",
        )
    choice = params.function_call
    tool_choice = (
        NamedToolChoice(type="function", function=NamedFunction(name=choice.name))
        if isinstance(choice, NamedFunction)
        else choice
    )
    tools = [Tool(type="function", function=f) for f in params.functions]
    return params.model_copy(
        update={"tools": tools, "tool_choice": tool_choice, "parallel_tool_calls": False}
    )


def plan_output(
    params: ChatCompletionParams,
    compiler: CompilesGrammars,
    texts: list[str],
    *,
    enforce_schemas: bool = True,
) -> OutputPlan:
    """The plan for this request; ``texts`` are the messages' texts (JSON mode requires
    one to mention JSON, as OpenAI does). ``enforce_schemas``: enforce schemas without
    ``strict`` where Hearth can (else they are hints)."""
    functions = params.functions is not None
    params = legacy_functions(params)
    state = _Planning(params, compiler, enforce_schemas)
    tools = _active_tools(params, "function_call" if functions else "tool_choice")
    fmt = params.response_format
    if (
        fmt is not None
        and fmt.type == "json_object"
        and not any("json" in t.lower() for t in texts)
    ):
        raise InvalidRequest(
            "'messages' must contain the word 'json' in some form, to use "
            "'response_format' of type 'json_object'.",
            param="messages",
        )
    schema_hint = schema_instructions(fmt.json_schema) if fmt and fmt.json_schema else None
    if not tools:
        schema = _format_schema(state)
        grammar = None if schema is None else _compile(compiler, "response_format", schema)
        if grammar is None and params.tools:  # tool_choice "none": text that is no call
            grammar = compiler.compile_grammar(lark=f"start: TEXT\nTEXT: {_TEXT}")
        return _planned(state, grammar=grammar, instructions=schema_hint)
    source = _tools_lark(state, tools)
    param = "functions" if functions else "tools"
    try:
        grammar = compiler.compile_grammar(lark=source)
    except GrammarError as exc:
        raise InvalidRequest(f"Hearth cannot enforce these {param}: {exc}", param=param) from None
    text = "\n\n".join(t for t in (tool_instructions(tools), schema_hint) if t)
    return _planned(state, grammar=grammar, instructions=text, tool_calls=True, functions=functions)


def _planned(state: _Planning, **fields: Any) -> OutputPlan:
    if state.hints:
        log.info("chat.completions: schema not enforced, only shown to the model: %s", state.hints)
    return OutputPlan(not_enforced=tuple(state.hints), **fields)


def _compile(compiler: CompilesGrammars, param: str, schema: dict[str, Any]) -> Grammar:
    try:
        return compiler.compile_grammar(json_schema=schema)
    except GrammarError as exc:  # a limit hit (already checked by enforceable)
        raise InvalidRequest(
            f"Invalid schema for {param}: {exc}", param=param, code="invalid_json_schema"
        ) from None


def _active_tools(params: ChatCompletionParams, choice_param: str) -> list[Tool]:
    tools, choice = params.tools or [], params.tool_choice
    if choice is not None and not tools:
        raise InvalidRequest(
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed "
            "when 'tools' are specified.",
            param="tool_choice",
        )
    names = [t.function.name for t in tools]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise InvalidRequest(
                f"Duplicate function name '{name}' in tools.", param=f"tools[{i}].function.name"
            )
    if choice == "none":
        return []
    if choice is not None and not isinstance(choice, str):
        if choice.function.name not in names:
            raise InvalidRequest(
                f"Invalid value for '{choice_param}': no function named "
                f"'{choice.function.name}' was specified.",
                param=choice_param,
            )
        return [t for t in tools if t.function.name == choice.function.name]
    return tools


def _format_schema(state: _Planning) -> dict[str, Any] | None:
    """The JSON Schema the answer must match; None for free text."""
    fmt = state.params.response_format
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        return dict(ANY_OBJECT)
    spec = _json_schema_spec(state.params)
    where = f"response_format '{spec.name}'"
    if not spec.strict:
        enforced = state.hinted(spec.schema_ or {}, where, "response_format")
        return {} if enforced is None else enforced  # None: valid JSON, schema a hint
    return enforceable(state.compiler, spec.schema_ or {}, where, "response_format")


def _json_schema_spec(params: ChatCompletionParams) -> JsonSchemaFormat:
    fmt = params.response_format
    if fmt is None or fmt.json_schema is None:
        raise InvalidRequest(
            "Missing required parameter: 'response_format.json_schema'.",
            param="response_format.json_schema",
        )
    return fmt.json_schema


def _body_rule(state: _Planning) -> str:
    """The Lark body for a non-call answer when tools are on."""
    schema = _format_schema(state)
    return _TEXT if schema is None else "%json " + lark_json(schema)


def _arguments_rule(state: _Planning, tool: Tool, index: int) -> str:
    fn = tool.function
    kind = "functions" if state.params.functions is not None else "tools"
    where = f"function '{fn.name}'"
    param = (
        f"{kind}[{index}].parameters"
        if kind == "functions"
        else f"tools[{index}].function.parameters"
    )
    if not fn.strict:
        if fn.parameters is None:
            return "%json " + lark_json(dict(ANY_OBJECT))
        # arguments are an object even where the schema leaves the type open
        schema = fn.parameters if "type" in fn.parameters else {"type": "object", **fn.parameters}
        enforced = state.hinted(schema, where, param)
        return "%json " + lark_json(dict(ANY_OBJECT) if enforced is None else enforced)
    schema = (
        fn.parameters
        if fn.parameters is not None
        else {"type": "object", "properties": {}, "additionalProperties": False}
    )
    return "%json " + lark_json(enforceable(state.compiler, schema, where, param))


def _tools_lark(state: _Planning, tools: list[Tool]) -> str:
    params = state.params
    all_names = [t.function.name for t in params.tools or []]
    rules, alternatives = [], []
    for tool in tools:
        i = all_names.index(tool.function.name)
        head = OPEN + '{"name": ' + json.dumps(tool.function.name) + ', "arguments": '
        rules.append(f"call_{i}: {json.dumps(head)} args_{i} {json.dumps('}' + CLOSE)}")
        rules.append(f"args_{i}: {_arguments_rule(state, tool, i)}")
        alternatives.append(f"call_{i}")
    named = isinstance(params.tool_choice, NamedToolChoice)
    single = named or params.parallel_tool_calls is False
    if named or params.tool_choice == "required":
        start = "start: calls"
    else:
        start = f"start: calls | body\nbody: {_body_rule(state)}"
    calls = "calls: call" if single else "calls: call+"
    return "\n".join([start, calls, "call: " + " | ".join(alternatives), *rules])


def tool_instructions(tools: list[Tool]) -> str:
    """The system text that shows ``tools`` and the ``<tool_call>`` format to the model."""
    listing = "\n".join(
        json.dumps(t.model_dump(exclude_none=True), ensure_ascii=False) for t in tools
    )
    return (
        "# Tools\n\nYou can call functions to help answer the user. Their signatures "
        f"are inside <tools></tools>:\n<tools>\n{listing}\n</tools>\n\nTo call a "
        "function, answer with one block per call, and nothing else:\n"
        f'{OPEN}{{"name": "<function name>", "arguments": {{<arguments as JSON>}}}}{CLOSE}'
        "\nFunction results come back inside <tool_response></tool_response>."
    )


def schema_instructions(spec: JsonSchemaFormat) -> str:
    """The system text that shows a ``json_schema`` response format to the model."""
    schema = json.dumps(spec.schema_ or {}, ensure_ascii=False)
    about = f" ({spec.description})" if spec.description else ""
    return f"Answer with a JSON value for '{spec.name}'{about} matching this JSON Schema:\n{schema}"
