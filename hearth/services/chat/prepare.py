"""Turn validated Chat Completions params into an engine ``GenerationRequest``.

Everything here raises ``InvalidRequest`` (400, with ``param``) before any generation
starts, so a bad request never reaches the engine.
"""

from __future__ import annotations

import secrets
from typing import Any

from hearth.engine.chat_format import render_chat
from hearth.engine.runner import ModelRunner
from hearth.engine.sampling import SamplingParams
from hearth.engine.sequence import GenerationRequest
from hearth.errors import ContextLengthExceeded, InvalidRequest
from hearth.services.chat.params import ChatCompletionParams, Message


def _unsupported(what: str, param: str) -> InvalidRequest:
    return InvalidRequest(f"{what} is not supported by Hearth yet.", param=param)


def _reject_unsupported(params: ChatCompletionParams) -> None:
    fmt = (params.response_format or {}).get("type", "text")
    if fmt != "text":
        raise _unsupported(f"response_format type '{fmt}'", "response_format")
    if params.tools:
        raise _unsupported("Function calling (tools)", "tools")
    if params.top_logprobs is not None and not params.logprobs:
        raise InvalidRequest("top_logprobs requires logprobs to be true.", param="top_logprobs")


def message_text(message: Message, index: int) -> str:
    """A message's text: the string, or its text parts joined; other parts are a 400."""
    if message.content is None:
        raise InvalidRequest(f"messages[{index}].content is required.",
                             param=f"messages[{index}].content")
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


def prompt_tokens(runner: ModelRunner, messages: list[Message]) -> list[int]:
    """The prompt token ids, rendered with the model's own chat template."""
    rows: list[dict[str, Any]] = [{"role": m.role, "content": message_text(m, i)}
                                  for i, m in enumerate(messages)]
    info = runner.info
    text = render_chat(info.chat_template, rows, bos_token=info.bos_token,
                       eos_token=info.eos_token)
    return runner.tokenize(text, special=True)


def _sampling(params: ChatCompletionParams, n_vocab: int) -> SamplingParams:
    bias = {int(k): v for k, v in (params.logit_bias or {}).items()}
    bad = [k for k in bias if k >= n_vocab]
    if bad:
        raise InvalidRequest(f"logit_bias token id {bad[0]} is outside the vocabulary "
                             f"(size {n_vocab}).", param="logit_bias")
    top_p = 1.0 if params.top_p is None else max(params.top_p, 1e-9)
    return SamplingParams(
        temperature=1.0 if params.temperature is None else params.temperature,
        top_p=top_p, frequency_penalty=params.frequency_penalty or 0.0,
        presence_penalty=params.presence_penalty or 0.0, logit_bias=bias,
        top_logprobs=(params.top_logprobs or 0) if params.logprobs else None,
        seed=params.seed if params.seed is not None else secrets.randbits(63),
    )


def _max_tokens(params: ChatCompletionParams, prompt: int, context: int) -> int:
    wanted = params.max_completion_tokens or params.max_tokens
    if prompt + (wanted or 1) > context:
        raise ContextLengthExceeded(
            f"This model's maximum context length is {context} tokens. However, you "
            f"requested {prompt + (wanted or 0)} tokens ({prompt} in the messages, "
            f"{wanted or 0} in the completion). Please reduce the length of the messages "
            "or completion.", param="messages")
    return wanted or context - prompt


def generation_request(params: ChatCompletionParams, runner: ModelRunner) -> GenerationRequest:
    """Validate and tokenize; raises ``InvalidRequest``/``ContextLengthExceeded``."""
    _reject_unsupported(params)
    tokens = prompt_tokens(runner, params.messages)
    stop = [params.stop] if isinstance(params.stop, str) else list(params.stop or [])
    return GenerationRequest(
        prompt=tokens, params=_sampling(params, runner.info.n_vocab),
        max_tokens=_max_tokens(params, len(tokens), runner.context_length),
        n=params.n or 1, stop=tuple(stop),
    )
