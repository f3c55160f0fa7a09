"""A thinking model for tests: the bundled SmolLM2 GGUF with its chat template replaced by
one that thinks, as Qwen3-Thinking, QwQ and DeepSeek-R1 templates do (the generation
prompt opens ``<think>``; a past turn's thinking is dropped from the history).

The template also refuses roles it does not know, as many templates do, so requests
with ``developer`` messages show that they reach it as ``system``. SmolLM2 never learnt
to close the block, so every request runs out of its thinking budget and Hearth closes
it: the budget path is the one exercised.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
from gguf import GGUF_DEFAULT_ALIGNMENT, GGUFReader, GGUFValueType, Keys

from hearth.engine.weights import bundled_chat_model

THINKING_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by "
    "Hugging Face<|im_end|>\\n' }}{% endif %}"
    "{% if message['role'] not in ['system', 'user', 'assistant'] %}"
    "{{ raise_exception('Unknown role: ' + message['role']) }}{% endif %}"
    "{% set content = message['content'] %}"
    "{% if message['role'] == 'assistant' and '</think>' in content %}"
    "{% set content = content.split('</think>')[-1].lstrip() %}{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + content + '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n<think>\\n' }}{% endif %}"
)
"""ChatML as SmolLM2's, with a generation prompt that opens the thinking block."""


class _Header:
    """A little-endian GGUF file's header, walked without decoding values: ``GGUFReader``
    decodes the 100k tokenizer strings one by one (seconds; this takes milliseconds)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, fmt: str) -> int:
        (value,) = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return int(value)

    def string(self) -> bytes:
        size = self.take("Q")
        self.pos += size
        return self.data[self.pos - size : self.pos]

    def value(self, kind: int) -> int | None:
        """Skip a value of ``kind``; a ``UINT32`` (alignment) is returned."""
        if kind == GGUFValueType.STRING:
            self.string()
        elif kind == GGUFValueType.ARRAY:
            item, count = self.take("I"), self.take("Q")
            if item in (GGUFValueType.STRING, GGUFValueType.ARRAY):
                for _ in range(count):
                    self.value(item)
            else:
                self.pos += (
                    count * np.dtype(GGUFReader.gguf_scalar_to_np[GGUFValueType(item)]).itemsize
                )
        elif kind == GGUFValueType.UINT32:
            return self.take("I")
        else:
            self.pos += np.dtype(GGUFReader.gguf_scalar_to_np[GGUFValueType(kind)]).itemsize
        return None


def write_thinking_gguf(dest: Path, template: str = THINKING_TEMPLATE) -> Path:
    """``dest``: a copy of the bundled SmolLM2 GGUF (~100 MB) whose
    ``tokenizer.chat_template`` is ``template``; every other key and every tensor as is
    (the tensor data moves to the next aligned offset after the longer header)."""
    data = bundled_chat_model().path.read_bytes()
    header = _Header(data)
    header.pos = 8  # magic, version
    tensors, keys = header.take("Q"), header.take("Q")
    alignment, span = GGUF_DEFAULT_ALIGNMENT, (0, 0)
    for _ in range(keys):
        start = header.pos
        key = header.string().decode()
        value = header.value(header.take("I"))
        if key == Keys.General.ALIGNMENT and value is not None:
            alignment = value
        if key == Keys.Tokenizer.CHAT_TEMPLATE:
            span = (start, header.pos)
    assert span != (0, 0), "the bundled GGUF has a chat template"
    for _ in range(tensors):  # name, dims, type, offset (relative to the data)
        header.string()
        dims = header.take("I")
        header.pos += 8 * dims + 4 + 8
    data_start = -(-header.pos // alignment) * alignment
    key, text = Keys.Tokenizer.CHAT_TEMPLATE.encode(), template.encode()
    entry = struct.pack("<Q", len(key)) + key + struct.pack("<IQ", GGUFValueType.STRING, len(text))
    head = data[: span[0]] + entry + text + data[span[1] : header.pos]
    with dest.open("wb") as out:
        out.write(head + bytes(-len(head) % alignment))
        out.write(memoryview(data)[data_start:])
    return dest
