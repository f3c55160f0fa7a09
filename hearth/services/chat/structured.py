"""What a choice's text must be: plain text, JSON (mode or schema) or tool calls.

``plan_output`` turns ``response_format``, ``tools``, ``tool_choice`` and
``parallel_tool_calls`` into one grammar for the engine plus the instructions the model
reads (OpenAI API reference: Chat > Create; Structured Outputs and Function calling
guides). Every check here raises ``InvalidRequest`` before generation starts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hearth.engine.constraints import CompilesGrammars, Grammar, GrammarError
from hearth.errors import InvalidRequest
from hearth.services.chat.params import (
    ChatCompletionParams,
    JsonSchemaFormat,
    NamedToolChoice,
    Tool,
)
from hearth.services.chat.schemas import enforceable, lark_json
from hearth.services.chat.tool_calls import CLOSE, OPEN

ANY_OBJECT: dict[str, Any] = {"type": "object"}
# Tools on: a text answer may not start with "<", so it can never be a malformed call.
_TEXT = r"/[^<](.|\n)*/"


@dataclass(frozen=True)
class OutputPlan:
    """``grammar``: masks every choice (None: free text); ``instructions``: system text
    for the model; ``tool_calls``: parse choices for ``<tool_call>`` blocks."""

    grammar: Grammar | None = None
    instructions: str | None = None
    tool_calls: bool = False


def plan_output(
    params: ChatCompletionParams, compiler: CompilesGrammars, texts: list[str]
) -> OutputPlan:
    """The plan for this request; ``texts`` are the messages' texts (JSON mode requires
    one to mention JSON, as OpenAI does)."""
    tools = _active_tools(params)
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
        grammar = _format_grammar(params, compiler)
        if grammar is None and params.tools:  # tool_choice "none": text that is no call
            grammar = compiler.compile_grammar(lark=f"start: TEXT\nTEXT: {_TEXT}")
        return OutputPlan(grammar=grammar, instructions=schema_hint)
    source = _tools_lark(params, tools, compiler)
    try:
        grammar = compiler.compile_grammar(lark=source)
    except GrammarError as exc:
        raise InvalidRequest(f"Hearth cannot enforce these tools: {exc}", param="tools") from None
    text = "\n\n".join(t for t in (tool_instructions(tools), schema_hint) if t)
    return OutputPlan(grammar=grammar, instructions=text, tool_calls=True)


def _active_tools(params: ChatCompletionParams) -> list[Tool]:
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
                f"Invalid value for 'tool_choice': no function named "
                f"'{choice.function.name}' was specified in 'tools'.",
                param="tool_choice",
            )
        return [t for t in tools if t.function.name == choice.function.name]
    return tools


def _format_schema(
    params: ChatCompletionParams,
    compiler: CompilesGrammars,
) -> dict[str, Any] | None:
    """The JSON Schema the answer must match; None for free text."""
    fmt = params.response_format
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        return dict(ANY_OBJECT)
    spec = _json_schema_spec(params)
    if not spec.strict:
        return {}  # valid JSON; the schema is only a hint
    return enforceable(
        compiler, spec.schema_ or {}, f"response_format '{spec.name}'", "response_format"
    )


def _format_grammar(
    params: ChatCompletionParams,
    compiler: CompilesGrammars,
) -> Grammar | None:
    schema = _format_schema(params, compiler)
    return None if schema is None else compiler.compile_grammar(json_schema=schema)


def _json_schema_spec(params: ChatCompletionParams) -> JsonSchemaFormat:
    fmt = params.response_format
    if fmt is None or fmt.json_schema is None:
        raise InvalidRequest(
            "Missing required parameter: 'response_format.json_schema'.",
            param="response_format.json_schema",
        )
    return fmt.json_schema


def _body_rule(params: ChatCompletionParams, compiler: CompilesGrammars) -> str:
    """The Lark body for a non-call answer when tools are on."""
    schema = _format_schema(params, compiler)
    return _TEXT if schema is None else "%json " + lark_json(schema)


def _arguments_rule(tool: Tool, index: int, compiler: CompilesGrammars) -> str:
    fn = tool.function
    if not fn.strict:
        return "%json " + lark_json(dict(ANY_OBJECT))
    where, param = f"function '{fn.name}'", f"tools[{index}].function.parameters"
    schema = (
        fn.parameters
        if fn.parameters is not None
        else {"type": "object", "properties": {}, "additionalProperties": False}
    )
    return "%json " + lark_json(enforceable(compiler, schema, where, param))


def _tools_lark(params: ChatCompletionParams, tools: list[Tool], compiler: CompilesGrammars) -> str:
    all_names = [t.function.name for t in params.tools or []]
    rules, alternatives = [], []
    for tool in tools:
        i = all_names.index(tool.function.name)
        head = OPEN + '{"name": ' + json.dumps(tool.function.name) + ', "arguments": '
        rules.append(f"call_{i}: {json.dumps(head)} args_{i} {json.dumps('}' + CLOSE)}")
        rules.append(f"args_{i}: {_arguments_rule(tool, i, compiler)}")
        alternatives.append(f"call_{i}")
    named = isinstance(params.tool_choice, NamedToolChoice)
    single = named or params.parallel_tool_calls is False
    if named or params.tool_choice == "required":
        start = "start: calls"
    else:
        start = f"start: calls | body\nbody: {_body_rule(params, compiler)}"
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
