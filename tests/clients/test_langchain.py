"""LangChain's ``ChatOpenAI`` (langchain-openai) against the server, as its users call it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import openai
import pytest
from jsonschema import Draft202012Validator
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_openai import ChatOpenAI, OpenAI
from pydantic import SecretStr

from tests.clients import conftest
from tests.clients.conftest import API_KEY, MODEL, TEXT


class City(conftest.City):
    """A city mentioned in the text."""


_HTTP: list[openai.DefaultHttpxClient] = []


@pytest.fixture(scope="module", autouse=True)
def _http_client() -> Iterator[None]:
    """One HTTP client for the module's models, closed at the end (LangChain's own
    default is never closed)."""
    _HTTP.append(openai.DefaultHttpxClient())
    yield
    _HTTP.pop().close()


def chat(base_url: str, **options: Any) -> ChatOpenAI:
    return ChatOpenAI(
        model=MODEL,
        base_url=base_url,
        api_key=SecretStr(API_KEY),
        temperature=0,
        max_retries=0,
        http_client=_HTTP[0],
        **options,
    )


def test_invoke(base_url: str) -> None:
    out = chat(base_url, max_tokens=16).invoke("Say hello.")
    assert isinstance(out, AIMessage) and isinstance(out.content, str) and out.content
    assert out.response_metadata["finish_reason"] in ("stop", "length")
    assert out.response_metadata["model_name"] == MODEL
    usage = out.usage_metadata
    assert usage and usage["output_tokens"] <= 16
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]


def test_stream_with_usage(base_url: str) -> None:
    chunks = list(chat(base_url, max_tokens=16, stream_usage=True).stream("Say hello."))
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    assert sum(1 for c in chunks if c.content) > 1
    whole = chunks[0]
    for c in chunks[1:]:
        whole += c
    assert whole.usage_metadata and 0 < whole.usage_metadata["output_tokens"] <= 16
    assert whole.response_metadata["finish_reason"] in ("stop", "length")


def test_batch(base_url: str) -> None:
    outs = chat(base_url, max_tokens=8).batch(["Say hello.", "Name a colour.", "Count to 3."])
    assert len(outs) == 3 and all(isinstance(o, AIMessage) and o.content for o in outs)
    assert len({o.id for o in outs}) == 3


def test_bind_tools_call_validates(base_url: str) -> None:
    model = chat(base_url, max_tokens=100).bind_tools([City], tool_choice="City")
    out = model.invoke(TEXT)
    assert isinstance(out, AIMessage) and not out.invalid_tool_calls
    [call] = out.tool_calls
    assert call["name"] == "City" and call["id"]
    City.model_validate(call["args"])


@pytest.mark.parametrize("method", ["function_calling", "json_schema"])
def test_with_structured_output_returns_an_instance(
    method: Literal["function_calling", "json_schema"], base_url: str
) -> None:
    model = chat(base_url, max_tokens=100).with_structured_output(City, method=method)
    assert isinstance(model.invoke(TEXT), City)


def test_with_structured_output_json_mode(base_url: str) -> None:
    # json_mode sends only response_format json_object: the schema is prompt text, so the
    # server's part is a JSON object LangChain parses (a dict schema skips pydantic)
    schema = City.model_json_schema()
    model = chat(base_url, max_tokens=200).with_structured_output(
        schema, method="json_mode", include_raw=True
    )
    out = model.invoke(f"Answer in JSON matching this schema: {schema}\n\n{TEXT}")
    assert out["parsing_error"] is None, out["raw"]
    assert isinstance(out["parsed"], dict) and out["parsed"]


def test_strict_tool_arguments_follow_the_schema(base_url: str) -> None:
    model = chat(base_url, max_tokens=100).bind_tools([City], tool_choice="City", strict=True)
    [call] = model.invoke(TEXT).tool_calls
    Draft202012Validator(City.model_json_schema()).validate(call["args"])


def test_completion_llm_invoke_stream_batch(base_url: str) -> None:
    # langchain_openai.OpenAI: the legacy /v1/completions text-in, text-out model
    llm = OpenAI(
        model=MODEL,
        base_url=base_url,
        api_key=SecretStr(API_KEY),
        temperature=0,
        max_tokens=8,
        max_retries=0,
        http_client=_HTTP[0],
    )
    assert isinstance(llm.invoke("Once upon a time"), str)
    pieces = list(llm.stream("Once upon a time"))
    assert len(pieces) > 1 and all(isinstance(p, str) for p in pieces)
    result = llm.generate(["Once upon a time", "1, 2, 3,"])
    assert len(result.generations) == 2
    assert result.llm_output and result.llm_output["token_usage"]["completion_tokens"] <= 16


def test_embeddings_in_a_vector_store(base_url: str) -> None:
    # tiktoken (LangChain's default length check) downloads OpenAI's BPE files at run
    # time; against any server but OpenAI's, LangChain's docs turn it off
    from langchain_core.vectorstores import InMemoryVectorStore
    from langchain_openai import OpenAIEmbeddings

    embeddings = OpenAIEmbeddings(
        model="text-embedding-3-small",
        base_url=base_url,
        api_key=API_KEY,  # type: ignore[arg-type]
        check_embedding_ctx_length=False,
        max_retries=0,
        http_client=_HTTP[0],
    )
    vectors = embeddings.embed_documents(["The lamp was relit in 1897.", "Apples grow here."])
    assert len(vectors) == 2 and all(len(v) == 384 for v in vectors)
    store = InMemoryVectorStore.from_texts(
        [
            "The lighthouse lamp was relit by keeper Ada Lowrie.",
            "Grafting season starts when the soil reaches 9 degrees.",
            "Samphire is blanched for forty seconds.",
        ],
        embeddings,
    )
    best = store.similarity_search("Who lit the lighthouse lamp again?", k=1)
    assert "Lowrie" in best[0].page_content


# --- the Responses API (use_responses_api=True) ----------------------------------------


def responses_chat(base_url: str, **options: Any) -> ChatOpenAI:
    return chat(base_url, use_responses_api=True, **options)


def test_responses_invoke(base_url: str) -> None:
    out = responses_chat(base_url, max_tokens=16).invoke("Say hello.")
    assert isinstance(out, AIMessage) and out.text
    assert out.id and out.id.startswith("resp_") and out.response_metadata["id"] == out.id
    assert out.response_metadata["status"] in ("completed", "incomplete")
    assert out.response_metadata["model_name"] == MODEL
    usage = out.usage_metadata
    assert usage and 0 < usage["output_tokens"] <= 16
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]


def test_responses_stream(base_url: str) -> None:
    chunks = list(responses_chat(base_url, max_tokens=16).stream("Say hello."))
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    assert sum(1 for c in chunks if c.text) > 1
    whole = chunks[0]
    for c in chunks[1:]:
        whole += c
    assert whole.text == "".join(c.text for c in chunks)
    assert whole.usage_metadata and 0 < whole.usage_metadata["output_tokens"] <= 16
    assert whole.response_metadata["id"].startswith("resp_")


def test_responses_bind_tools_call_validates(base_url: str) -> None:
    model = responses_chat(base_url, max_tokens=100).bind_tools([City], tool_choice="City")
    out = model.invoke(TEXT)
    assert isinstance(out, AIMessage) and not out.invalid_tool_calls
    [call] = out.tool_calls
    assert call["name"] == "City" and call["id"] and call["id"].startswith("call_")
    City.model_validate(call["args"])


def test_responses_with_structured_output_returns_an_instance(base_url: str) -> None:
    model = responses_chat(base_url, max_tokens=100).with_structured_output(
        City, method="json_schema", include_raw=True
    )
    out = model.invoke(TEXT)
    assert out["parsing_error"] is None, out["raw"]
    assert isinstance(out["parsed"], City)
    assert out["raw"].response_metadata["id"].startswith("resp_")
