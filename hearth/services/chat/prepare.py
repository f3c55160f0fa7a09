"""Turn validated Chat Completions params into an engine ``GenerationRequest``.

Everything here raises ``InvalidRequest`` (400, with ``param``) before any generation
starts, so a bad request never reaches the engine.
"""

from __future__ import annotations

import secrets
from typing import Any, Protocol

from hearth.engine.chat_format import render_chat
from hearth.engine.runner import ModelInfo
from hearth.engine.sampling import SamplingParams
from hearth.engine.sequence import GenerationRequest
from hearth.engine.served import ServedModel
from hearth.errors import ContextLengthExceeded, InvalidRequest
from hearth.services.chat.params import ChatCompletionParams, GenerationParams, Message
from hearth.services.chat.structured import OutputPlan, plan_output
from hearth.services.chat.tool_calls import call_text


def _unsupported(what: str, param: str) -> InvalidRequest:
    return InvalidRequest(f"{what} is not supported by Hearth yet.", param=param)


def _check_combinations(params: ChatCompletionParams) -> None:
    if params.top_logprobs is not None and not params.logprobs:
        raise InvalidRequest("top_logprobs requires logprobs to be true.", param="top_logprobs")


def message_text(message: Message, index: int) -> str:
    """A message's text: the string, or its text parts joined; other parts are a 400."""
    if (
        message.content is None
        and message.role == "assistant"
        and (message.tool_calls or message.function_call)
    ):
        return ""
    if message.content is None:
        raise InvalidRequest(
            f"messages[{index}].content is required.", param=f"messages[{index}].content"
        )
    if isinstance(message.content, str):
        return message.content
    texts = []
    for j, part in enumerate(message.content):
        param = f"messages[{index}].content[{j}]"
        kind = part.get("type")
        if kind != "text":
            raise _unsupported(f"Content part type '{kind}'", f"{param}.type")
        if not isinstance(part.get("text"), str):
            raise InvalidRequest(f"{param}.text must be a string.", param=f"{param}.text")
        texts.append(part["text"])
    return "".join(texts)


def conversation_rows(messages: list[Message]) -> list[dict[str, Any]]:
    """``{"role", "content"}`` rows for the chat template. Earlier tool calls become
    ``<tool_call>`` blocks in the assistant's text; consecutive ``tool`` results become
    one user turn of ``<tool_response>`` blocks (Hearth's generic tool format). Raises
    ``InvalidRequest`` for a tool message that answers no preceding call."""
    rows: list[dict[str, Any]] = []
    open_calls: set[str] = set()
    for i, m in enumerate(messages):
        text = message_text(m, i)
        if m.role == "function":  # deprecated: the result of a ``function_call``
            if not m.name:
                raise InvalidRequest(
                    f"Missing required parameter: 'messages[{i}].name'.",
                    param=f"messages[{i}].name",
                )
            rows.append({"role": "user", "content": f"<tool_response>\n{text}\n</tool_response>"})
            continue
        if m.role == "tool":
            if m.tool_call_id not in open_calls:
                raise InvalidRequest(
                    "Invalid parameter: messages with role 'tool' must be a response to a "
                    "preceding message with 'tool_calls'.",
                    param=f"messages[{i}].role",
                )
            block = f"<tool_response>\n{text}\n</tool_response>"
            if messages[i - 1].role == "tool":  # i > 0: a call precedes every result
                rows[-1]["content"] += "\n" + block
            else:
                rows.append({"role": "user", "content": block})
            continue
        if m.role == "assistant":
            open_calls = {c.id for c in m.tool_calls or []}
            legacy = [m.function_call] if m.function_call else []
            if m.tool_calls or legacy:
                functions = [c.function for c in m.tool_calls or []] + legacy
                calls = [call_text(f.name, f.arguments) for f in functions]
                text = "\n".join(([text] if text else []) + calls)
        rows.append({"role": m.role, "content": text})
    return rows


def with_instructions(rows: list[dict[str, Any]], text: str | None) -> list[dict[str, Any]]:
    """``rows`` with ``text`` appended to the leading system message (or one added)."""
    if not text:
        return rows
    if rows and rows[0]["role"] in ("system", "developer"):
        return [{**rows[0], "content": f"{rows[0]['content']}\n\n{text}"}, *rows[1:]]
    return [{"role": "system", "content": text}, *rows]


class ChatTokenizer(Protocol):
    """What rendering a prompt needs of a model (a ``ServedModel`` or a runner)."""

    @property
    def info(self) -> ModelInfo: ...

    def tokenize(self, text: str, *, special: bool) -> list[int]: ...


def prompt_tokens(model: ChatTokenizer, rows: list[dict[str, Any]]) -> list[int]:
    """The prompt token ids, rendered with the model's own chat template."""
    info = model.info
    text = render_chat(info.chat_template, rows, bos_token=info.bos_token, eos_token=info.eos_token)
    return model.tokenize(text, special=True)


def sampling_params(
    params: GenerationParams, n_vocab: int, top_logprobs: int | None
) -> SamplingParams:
    """The engine's sampler settings for ``params``; ``top_logprobs``: None for no
    logprobs, else how many alternatives per token. Raises ``InvalidRequest`` for a
    ``logit_bias`` token outside the vocabulary."""
    bias = {int(k): v for k, v in (params.logit_bias or {}).items()}
    bad = [k for k in bias if k >= n_vocab]
    if bad:
        raise InvalidRequest(
            f"logit_bias token id {bad[0]} is outside the vocabulary (size {n_vocab}).",
            param="logit_bias",
        )
    top_p = 1.0 if params.top_p is None else max(params.top_p, 1e-9)
    return SamplingParams(
        temperature=1.0 if params.temperature is None else params.temperature,
        top_p=top_p,
        frequency_penalty=params.frequency_penalty or 0.0,
        presence_penalty=params.presence_penalty or 0.0,
        logit_bias=bias,
        top_logprobs=top_logprobs,
        seed=params.seed if params.seed is not None else secrets.randbits(63),
    )


def _max_tokens(params: ChatCompletionParams, prompt: int, context: int) -> int:
    wanted = params.max_completion_tokens or params.max_tokens
    if prompt + (wanted or 1) > context:
        raise ContextLengthExceeded(
            f"This model's maximum context length is {context} tokens. However, you "
            f"requested {prompt + (wanted or 0)} tokens ({prompt} in the messages, "
            f"{wanted or 0} in the completion). Please reduce the length of the messages "
            "or completion.",
            param="messages",
        )
    return wanted or context - prompt


def _check_size(params: ChatCompletionParams, context: int) -> None:
    """Refuse, before rendering or tokenizing, what cannot fit the context: every
    message costs at least one token, as does the completion."""
    wanted = params.max_completion_tokens or params.max_tokens or 1
    if len(params.messages) + wanted > context:
        raise ContextLengthExceeded(
            f"This model's maximum context length is {context} tokens. However, your "
            f"messages ({len(params.messages)} of them) and the {wanted} completion tokens "
            "requested cannot fit. Please reduce the length of the messages or completion.",
            param="messages",
        )


_SAMPLE_CHARS_PER_TOKEN = 16
"""Text longer than the context x this is tokenized in part first: a prefix that alone
overflows the context refuses the request without tokenizing megabytes (~0.3 s per MB)."""


def check_text_size(
    model: ChatTokenizer, texts: list[str], context: int, param: str = "messages"
) -> None:
    """Raise ``ContextLengthExceeded`` (naming ``param``) when ``texts`` are so long that
    a prefix of them alone overflows ``context``, without tokenizing all of them."""
    limit = context * _SAMPLE_CHARS_PER_TOKEN
    if sum(len(t) for t in texts) <= limit:
        return
    sample = "".join(texts)[:limit]
    counted = len(model.tokenize(sample, special=False))
    if counted > context:
        raise ContextLengthExceeded(
            f"This model's maximum context length is {context} tokens. However, your "
            f"{param} resulted in more than {counted} tokens. Please reduce the length "
            f"of the {param}.",
            param=param,
        )


def generation_request(
    params: ChatCompletionParams,
    model: ServedModel,
    *,
    enforce_schemas: bool = True,
) -> tuple[GenerationRequest, OutputPlan]:
    """Validate, plan the output (grammar, tool calls) and tokenize for ``model``;
    raises ``InvalidRequest``/``ContextLengthExceeded``. ``enforce_schemas``: enforce
    schemas without ``strict`` where Hearth can. Blocking (tokenizer, grammar
    compiler): run it off the event loop."""
    _check_combinations(params)
    _check_size(params, model.info.context_length)
    rows = conversation_rows(params.messages)
    check_text_size(model, [r["content"] for r in rows], model.info.context_length)
    plan = plan_output(params, model, [r["content"] for r in rows], enforce_schemas=enforce_schemas)
    tokens = prompt_tokens(model, with_instructions(rows, plan.instructions))
    top_logprobs = (params.top_logprobs or 0) if params.logprobs else None
    return GenerationRequest(
        prompt=tokens,
        params=sampling_params(params, model.info.n_vocab, top_logprobs),
        max_tokens=_max_tokens(params, len(tokens), model.info.context_length),
        n=params.n or 1,
        stop=params.stop_sequences(),
        grammar=plan.grammar,
    ), plan
