"""Chat templates: messages -> prompt text, with the model's own Jinja template.

The template comes from the GGUF metadata (``tokenizer.chat_template``) and is rendered
in a sandboxed Jinja environment, as Hugging Face ``apply_chat_template`` does. Models
without one fall back to ChatML.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from jinja2 import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from hearth.errors import InvalidRequest

CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def _raise(message: str) -> None:
    raise TemplateError(message)


@lru_cache(maxsize=16)
def _compile(source: str) -> Any:
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = _raise
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return env.from_string(source)


def render_chat(
    template: str | None,
    messages: Sequence[dict[str, Any]],
    *,
    bos_token: str = "",
    eos_token: str = "",
) -> str:
    """Prompt text for ``messages`` (``[{"role", "content"}]``, content already text),
    ending with the assistant generation prompt.

    ``developer`` messages are rendered as ``system`` (OpenAI treats them alike for
    models that predate the role). Raises ``InvalidRequest`` if the template rejects
    the conversation (e.g. roles out of the order it requires).
    """
    rows = [{**m, "role": "system" if m["role"] == "developer" else m["role"]} for m in messages]
    try:
        return str(
            _compile(template or CHATML).render(
                messages=rows, add_generation_prompt=True, bos_token=bos_token, eos_token=eos_token
            )
        )
    except TemplateError as exc:
        raise InvalidRequest(
            f"The model's chat template rejected these messages: {exc}", param="messages"
        ) from exc
