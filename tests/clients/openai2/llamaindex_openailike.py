"""LlamaIndex's ``OpenAILike`` LLM (llama-index-llms-openai-like) against a chat model."""

from __future__ import annotations

import asyncio
from typing import Any

from llama_index.core.llms import ChatMessage
from llama_index.llms.openai_like import OpenAILike
from report import API_KEY, BASE_URL, MODEL, run

# is_chat_model: the chat model through /v1/chat/completions (LlamaIndex's own advice for
# OpenAI-compatible chat servers); its default (False) uses the legacy /v1/completions
llm = OpenAILike(
    model=MODEL,
    api_base=BASE_URL,
    api_key=API_KEY,
    is_chat_model=True,
    context_window=2048,
    max_tokens=16,
    temperature=0,
)
raw = OpenAILike(
    model=MODEL, api_base=BASE_URL, api_key=API_KEY, context_window=2048, max_tokens=16
)
ASK = [ChatMessage(role="user", content="Say hello.")]


def usage(raw: Any) -> dict[str, int]:
    u = raw.usage if hasattr(raw, "usage") else raw["usage"]
    return {"prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens}


def complete() -> dict[str, Any]:
    r = llm.complete("Say hello.")
    return {"text": r.text, "usage": usage(r.raw)}


def complete_raw() -> dict[str, Any]:
    r = raw.complete("Say hello.")
    return {"text": r.text, "usage": usage(r.raw)}


def stream_complete_raw() -> dict[str, Any]:
    chunks = list(raw.stream_complete("Once upon a time"))
    return {"deltas": [c.delta for c in chunks], "text": chunks[-1].text}


def chat() -> dict[str, Any]:
    r = llm.chat(ASK)
    return {"role": str(r.message.role.value), "text": r.message.content, "usage": usage(r.raw)}


def stream_chat() -> dict[str, Any]:
    chunks = list(llm.stream_chat(ASK))
    return {"deltas": [c.delta for c in chunks], "text": chunks[-1].message.content}


def stream_complete() -> dict[str, Any]:
    chunks = list(llm.stream_complete("Say hello."))
    return {"deltas": [c.delta for c in chunks], "text": chunks[-1].text}


def achat() -> dict[str, Any]:
    r = asyncio.run(llm.achat(ASK))
    return {"role": str(r.message.role.value), "text": r.message.content, "usage": usage(r.raw)}


run(
    {
        "complete": complete,
        "complete_raw": complete_raw,
        "stream_complete_raw": stream_complete_raw,
        "chat": chat,
        "stream_chat": stream_chat,
        "stream_complete": stream_complete,
        "achat": achat,
    }
)
