"""Grader templates: ``{{ item.a.b }}``, ``{{ sample.output_text }}``,
``{{ sample.choices[0].message.content }}`` (OpenAI graders guide, "Templating").

A placeholder is a namespace (``item`` or ``sample``) followed by ``.key``, ``[index]``
or ``["quoted key"]`` steps; whitespace inside the braces is ignored. Strings are
substituted as they are, anything else as JSON. A path that is not in the data is a
``TemplateError`` (the grader reports an error for that sample); a malformed placeholder
or an unknown namespace is an ``InvalidRequest`` when the eval is created (``check``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from hearth.errors import InvalidRequest

ROOTS = ("item", "sample")
_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_ROOT = re.compile(r"\s*([A-Za-z_]\w*)")
_STEP = re.compile(
    r"""\s*(?:\.\s*([A-Za-z_][\w-]*)|\[\s*(-?\d+)\s*\]"""
    r"""|\[\s*("(?:[^"\\]|\\.)*")\s*\])"""
)

Step = str | int


class TemplateError(ValueError):
    """A placeholder that cannot be parsed or resolved against this sample's data."""


def parse(expression: str) -> tuple[str, list[Step]]:
    """``"item.a[0]"`` -> ``("item", ["a", 0])``; raises ``TemplateError``."""
    root = _ROOT.match(expression)
    if root is None:
        raise TemplateError(
            f"'{{{{{expression}}}}}' is not a template variable; expected "
            "a path such as {{item.field}} or {{sample.output_text}}."
        )
    steps: list[Step] = []
    pos = root.end()
    while expression[pos:].strip():
        step = _STEP.match(expression, pos)
        if step is None:
            raise TemplateError(
                f"'{{{{{expression}}}}}' is not a template variable: "
                f"cannot parse '{expression[pos:].strip()}'."
            )
        key, index, quoted = step.groups()
        steps.append(
            key if key is not None else int(index) if index is not None else json.loads(quoted)
        )
        pos = step.end()
    return root.group(1), steps


def placeholders(template: str) -> list[str]:
    """The expressions inside ``{{ }}`` in ``template``, stripped."""
    return [m.group(1).strip() for m in _PLACEHOLDER.finditer(template, 0, _last_close(template))]


def _last_close(template: str) -> int:
    """Where the last ``}}`` ends (0 without one). ``_PLACEHOLDER`` is searched only up to
    there: past it, every ``{{`` would scan to the end and fail, quadratic in a client's
    text ("{{" * 40,000 took 25 s)."""
    return template.rfind("}}") + 2 if "}}" in template else 0


def check(template: str, param: str, roots: Iterable[str] = ROOTS) -> None:
    """Raise ``InvalidRequest`` (``param``) if a placeholder is malformed or its namespace
    is not one of ``roots``."""
    allowed = tuple(roots)
    for expression in placeholders(template):
        try:
            root, _ = parse(expression)
        except TemplateError as exc:
            raise InvalidRequest(str(exc), param=param) from None
        if root not in allowed:
            names = " and ".join(f"'{r}'" for r in allowed)
            raise InvalidRequest(
                f"Template variable '{{{{{expression}}}}}' uses the namespace '{root}'; "
                f"only {names} {'are' if len(allowed) > 1 else 'is'} available here.",
                param=param,
            )


def lookup(context: dict[str, Any], expression: str) -> Any:
    """The value at ``expression`` in ``context``; ``TemplateError`` if absent."""
    root, steps = parse(expression)
    if root not in context:
        raise TemplateError(
            f"Template variable '{{{{{expression}}}}}': the namespace "
            f"'{root}' is not available for this sample."
        )
    value, where = context[root], root
    for step in steps:
        if isinstance(step, int) and isinstance(value, list):
            if not -len(value) <= step < len(value):
                raise TemplateError(
                    f"Template variable '{{{{{expression}}}}}': {where} has "
                    f"{len(value)} element(s), no index {step}."
                )
            value = value[step]
        elif isinstance(step, str) and isinstance(value, dict):
            if step not in value:
                raise TemplateError(
                    f"Template variable '{{{{{expression}}}}}': {where} has no key '{step}'."
                )
            value = value[step]
        else:
            kind = "null" if value is None else type(value).__name__
            raise TemplateError(
                f"Template variable '{{{{{expression}}}}}': {where} is "
                f"{kind}, it has no {'index' if isinstance(step, int) else 'key'} "
                f"{step!r}."
            )
        where += f"[{step}]" if isinstance(step, int) else f".{step}"
    return value


def render(template: str, context: dict[str, Any]) -> str:
    """``template`` with every placeholder replaced from ``context`` (``{"item": ...,
    "sample": ...}``): strings as they are, other values as JSON. Raises
    ``TemplateError`` for a malformed placeholder or a path not in ``context``."""

    def substitute(match: re.Match[str]) -> str:
        value = lookup(context, match.group(1).strip())
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)

    end = _last_close(template)
    return _PLACEHOLDER.sub(substitute, template[:end]) + template[end:]


# EvalItem content parts -> Chat Completions content parts
def _render_part(part: Any, context: dict[str, Any]) -> dict[str, Any]:
    if isinstance(part, str):
        return {"type": "text", "text": render(part, context)}
    kind = part.get("type") if isinstance(part, dict) else None
    field = {
        "input_text": "text",
        "output_text": "text",
        "input_image": "image_url",
        "input_audio": "input_audio",
    }.get(kind)  # type: ignore[arg-type]
    if field is None or field not in part:
        raise TemplateError(
            f"Content part {json.dumps(part)[:200]} is not an input_text, "
            "output_text, input_image or input_audio part."
        )
    if field == "text":
        return {"type": "text", "text": render(part["text"], context)}
    if kind == "input_image":
        image = {"url": render(part["image_url"], context)}
        if part.get("detail"):
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    return {"type": "input_audio", "input_audio": part["input_audio"]}


def render_messages(
    messages: list[dict[str, Any]],
    context: dict[str, Any],
) -> list[dict[str, Any]]:
    """Eval messages (``{role, content}`` or EvalItem ``{type: "message", role, content}``
    whose content is a string, one ``input_text`` / ``output_text`` / ``input_image`` /
    ``input_audio`` part, or a list of those) rendered into Chat Completions messages
    ``{"role", "content"}``. Text stays a plain string; several parts become a parts
    array. Raises ``TemplateError`` like ``render``."""
    out = []
    for message in messages:
        content = message["content"]
        if isinstance(content, str):
            rendered: str | list[dict[str, Any]] = render(content, context)
        else:
            parts = [
                _render_part(p, context)
                for p in (content if isinstance(content, list) else [content])
            ]
            single_text = len(parts) == 1 and parts[0]["type"] == "text"
            rendered = parts[0]["text"] if single_text else parts
        out.append({"role": message["role"], "content": rendered})
    return out


def message_texts(message: dict[str, Any]) -> list[tuple[str, str]]:
    """``(relative param, template)`` for every templated string in one eval message
    (``content``, ``content.text``, ``content[i].text``, image URLs)."""
    content = message.get("content")
    if isinstance(content, str):
        return [("content", content)]
    parts = content if isinstance(content, list) else [content]
    found = []
    for i, part in enumerate(parts):
        where = f"content[{i}]" if isinstance(content, list) else "content"
        if isinstance(part, str):
            found.append((where, part))
        elif isinstance(part, dict):
            for key in ("text", "image_url"):
                if isinstance(part.get(key), str):
                    found.append((f"{where}.{key}", part[key]))
    return found
