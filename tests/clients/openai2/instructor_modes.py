"""instructor (structured outputs through the openai SDK) in each of its OpenAI modes."""

from __future__ import annotations

from typing import Any

import instructor
import openai
from pydantic import BaseModel, ConfigDict, Field
from report import API_KEY, BASE_URL, MODEL, run

TEXT = "Paris is the capital of France, home to 2,100,000 people. Extract the city."


class City(BaseModel):
    name: str = Field(max_length=40)
    country: str = Field(max_length=40)
    population: int


# Any JSON object: in JSON and MD_JSON modes the schema reaches the model only as prompt
# text, so only the JSON itself is the server's to get right (no docstring: it would be
# part of that prompt)
class AnyObject(BaseModel):
    model_config = ConfigDict(extra="allow")


def extract(mode: instructor.Mode, model: type[BaseModel], **options: Any) -> dict[str, Any]:
    client = instructor.from_openai(
        openai.OpenAI(base_url=BASE_URL, api_key=API_KEY, max_retries=0), mode=mode
    )
    out = client.chat.completions.create(
        model=MODEL,
        response_model=model,
        max_retries=0,
        max_tokens=300,
        temperature=0,
        messages=[{"role": "user", "content": TEXT}],
        **options,
    )
    return {"instance": out.model_dump(), "schema": model.model_json_schema()}


run(
    {
        "TOOLS": lambda: extract(instructor.Mode.TOOLS, City),
        "TOOLS_STRICT": lambda: extract(instructor.Mode.TOOLS_STRICT, City),
        "JSON_SCHEMA": lambda: extract(instructor.Mode.JSON_SCHEMA, City),
        "JSON": lambda: extract(instructor.Mode.JSON, AnyObject),
        # a small model may talk on after the code block; instructor refuses any answer
        # cut by max_tokens, so the block's closing fence is a stop sequence
        "MD_JSON": lambda: extract(instructor.Mode.MD_JSON, AnyObject, stop=["\n```"]),
    }
)
