"""A GPT from a folder, through the API (``hearth gpt create``; ``docs/assistants.md``).

The folder::

    my-gpt/
      instructions.md      what the GPT is told (or instructions.txt); required
      knowledge/           files it searches (one vector store, the file_search tool)
      openapi.yaml         one action: an OpenAPI 3.x spec (or openapi.yml / openapi.json)
      gpt.json             optional: name, description, model, temperature, top_p,
                           code_interpreter (true adds the tool), auth (the action's
                           credentials, as the assistant's ``actions[].auth``)

``create_gpt`` uploads the knowledge files (purpose ``assistants``), has the vector store
made with the assistant, and creates the assistant with the action, using any client of
the ``openai`` SDK pointed at Hearth. Errors are the API's (``openai.APIError``) or
``GptFolderError`` for a folder that does not hold a GPT.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import openai
from openai.types.beta import Assistant

SPEC_NAMES = ("openapi.yaml", "openapi.yml", "openapi.json")
INSTRUCTION_NAMES = ("instructions.md", "instructions.txt")
SETTINGS_KEYS = {
    "name",
    "description",
    "model",
    "temperature",
    "top_p",
    "code_interpreter",
    "auth",
}


class GptFolderError(Exception):
    """The folder does not hold a GPT; the message says what is wrong."""


def read_folder(folder: Path) -> dict[str, Any]:
    """What the folder holds: ``instructions`` (text), ``knowledge`` (file paths),
    ``openapi`` (the spec's text or None) and ``settings`` (``gpt.json``).
    ``GptFolderError`` for a missing folder or instructions, two specs, bad JSON or an
    unknown ``gpt.json`` key."""
    if not folder.is_dir():
        raise GptFolderError(f"{folder} is not a folder")
    found = [folder / n for n in INSTRUCTION_NAMES if (folder / n).is_file()]
    if not found:
        raise GptFolderError(f"{folder} has no instructions.md (or instructions.txt)")
    specs = [folder / n for n in SPEC_NAMES if (folder / n).is_file()]
    if len(specs) > 1:
        raise GptFolderError(f"{folder} has {len(specs)} OpenAPI specs; a GPT folder has one")
    settings: dict[str, Any] = {}
    if (folder / "gpt.json").is_file():
        try:
            settings = json.loads((folder / "gpt.json").read_text())
        except json.JSONDecodeError as exc:
            raise GptFolderError(f"gpt.json is not JSON: {exc}") from None
        if not isinstance(settings, dict):
            raise GptFolderError("gpt.json must hold an object")
        unknown = sorted(set(settings) - SETTINGS_KEYS)
        if unknown:
            raise GptFolderError(
                f"gpt.json has unknown keys {unknown}; known: {sorted(SETTINGS_KEYS)}"
            )
    knowledge = folder / "knowledge"
    return {
        "instructions": found[0].read_text(),
        "knowledge": sorted(p for p in knowledge.rglob("*") if p.is_file())
        if knowledge.is_dir()
        else [],
        "openapi": specs[0].read_text() if specs else None,
        "settings": settings,
    }


def create_gpt(client: openai.OpenAI, folder: Path, model: str | None = None) -> Assistant:
    """Create the GPT ``folder`` describes and return its assistant. ``model``: the
    served model to use, over ``gpt.json``'s; else the first one the server lists."""
    gpt = read_folder(folder)
    settings = gpt["settings"]
    model = model or settings.get("model") or client.models.list().data[0].id
    tools: list[Any] = []
    resources: Any = {}
    if gpt["knowledge"]:
        file_ids = []
        for path in gpt["knowledge"]:
            with path.open("rb") as fh:
                file_ids.append(client.files.create(file=fh, purpose="assistants").id)
        tools.append({"type": "file_search"})
        resources["file_search"] = {"vector_stores": [{"file_ids": file_ids}]}
    if settings.get("code_interpreter"):
        tools.append({"type": "code_interpreter"})
    extra: dict[str, Any] = {}
    if gpt["openapi"] is not None:
        action: dict[str, Any] = {"openapi": gpt["openapi"]}
        if settings.get("auth") is not None:
            action["auth"] = settings["auth"]
        extra["actions"] = [action]
    optional = {k: settings[k] for k in ("description", "temperature", "top_p") if k in settings}
    return client.beta.assistants.create(
        model=model,
        name=settings.get("name") or folder.resolve().name,
        instructions=gpt["instructions"],
        tools=tools,
        tool_resources=resources,
        extra_body=extra or None,
        **optional,
    )
