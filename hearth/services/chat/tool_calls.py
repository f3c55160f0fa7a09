"""Hearth's generic tool-call syntax and its streaming parser.

Models whose chat template has no tool format (the bundled SmolLM2 among them) see the
tools in the system prompt and call them as Hermes-style blocks, one per call::

    <tool_call>
    {"name": "get_weather", "arguments": {"city": "Paris"}}
    </tool_call>

Generation is grammar-constrained to exactly this syntax (see ``tools.py``), so the
parser below can split a choice's text into content and tool calls while it streams.
"""

from __future__ import annotations

import json
import re
import secrets
import string
from dataclasses import dataclass, field

OPEN = "<tool_call>\n"
CLOSE = "\n</tool_call>"
_HEAD = re.compile(r'\n?<tool_call>\n\{"name": "([A-Za-z0-9_-]+)", "arguments": ')
_ALPHABET = string.ascii_letters + string.digits


def new_call_id() -> str:
    """An OpenAI-style tool call id, ``call_`` + 24 random letters and digits."""
    return "call_" + "".join(secrets.choice(_ALPHABET) for _ in range(24))


def call_text(name: str, arguments: str) -> str:
    """One call block as the model writes it (``arguments``: a JSON object's text)."""
    return f'{OPEN}{{"name": {json.dumps(name)}, "arguments": {arguments}}}{CLOSE}'


@dataclass
class Content:
    """Plain assistant text."""

    text: str


@dataclass
class CallStarted:
    """A new call (``index`` counts calls in this choice): id and name are known."""

    index: int
    id: str
    name: str


@dataclass
class Arguments:
    """A fragment of call ``index``'s arguments JSON."""

    index: int
    text: str


Piece = Content | CallStarted | Arguments


@dataclass
class ParsedCall:
    """A call as far as it was generated; ``complete`` once its block closed."""

    id: str
    name: str
    arguments: str = ""
    complete: bool = False


@dataclass
class ToolCallParser:
    """Splits one choice's streamed text into content and tool-call pieces.

    Content never starts with ``<`` when tools are offered (the grammar forbids it), so
    the first character decides between a text answer and a run of call blocks.
    """

    buffer: str = ""
    mode: str = "undecided"  # undecided | content | head | arguments | tail
    calls: list[ParsedCall] = field(default_factory=list)
    _depth: int = 0
    _in_string: bool = False
    _escaped: bool = False

    def feed(self, text: str) -> list[Piece]:
        """Pieces completed by ``text`` (partial syntax is held until it resolves)."""
        self.buffer += text
        pieces: list[Piece] = []
        while self.buffer:
            progressed = self._step(pieces)
            if not progressed:
                break
        return pieces

    def record(self, piece: CallStarted | Arguments) -> None:
        """Keep a call piece parsed elsewhere (an upstream's native ``tool_calls``), so
        ``calls`` holds it as if this parser had read it."""
        if isinstance(piece, CallStarted):
            self.calls.append(ParsedCall(piece.id, piece.name))
        elif self.calls:
            self.calls[min(piece.index, len(self.calls) - 1)].arguments += piece.text

    def _step(self, pieces: list[Piece]) -> bool:
        if self.mode == "undecided":
            self.mode = "head" if self.buffer.startswith("<") else "content"
            return True
        if self.mode == "content":
            pieces.append(Content(self.buffer))
            self.buffer = ""
            return True
        if self.mode == "head":
            return self._head(pieces)
        if self.mode == "arguments":
            return self._arguments(pieces)
        return self._tail()

    def _head(self, pieces: list[Piece]) -> bool:
        match = _HEAD.match(self.buffer)
        if match is None:
            return False
        call = ParsedCall(new_call_id(), match.group(1))
        self.calls.append(call)
        pieces.append(CallStarted(len(self.calls) - 1, call.id, call.name))
        self.buffer = self.buffer[match.end() :]
        self.mode, self._depth, self._in_string, self._escaped = "arguments", 0, False, False
        return True

    def _arguments(self, pieces: list[Piece]) -> bool:
        end = self._scan(self.buffer)
        taken = self.buffer if end is None else self.buffer[:end]
        self.buffer = "" if end is None else self.buffer[end:]
        call = self.calls[-1]
        call.arguments += taken
        if taken:
            pieces.append(Arguments(len(self.calls) - 1, taken))
        if end is not None:
            self.mode = "tail"
        return True

    def _scan(self, text: str) -> int | None:
        """Where the arguments object ends in ``text`` (tracking JSON strings), or None."""
        for i, ch in enumerate(text):
            if self._in_string:
                if self._escaped:
                    self._escaped = False
                elif ch == "\\":
                    self._escaped = True
                elif ch == '"':
                    self._in_string = False
            elif ch == '"':
                self._in_string = True
            elif ch in "{[":
                self._depth += 1
            elif ch in "}]":
                self._depth -= 1
                if self._depth == 0:
                    return i + 1
        return None

    def _tail(self) -> bool:
        closing = "}" + CLOSE
        if len(self.buffer) < len(closing):
            return False
        if self.buffer.startswith(closing):
            self.calls[-1].complete = True
            self.buffer = self.buffer[len(closing) :]
            self.mode = "head"
            return True
        return False
