"""A served chat model: the one interface services use to reach an engine.

``ServedModel`` is all that the chat, fine-tuning and models services see of a model: its
id and facts (``info``), its tokenizer, grammar compilation for structured outputs, and
``generate``. ``LocalModel`` implements it in this process (a ``ModelRunner`` driven by a
``Scheduler`` thread); base and fine-tuned models are both ``LocalModel``s.
``engine/remote.py:RemoteModel`` (an OpenAI-compatible upstream) is one too for the
registry, but has no tokenizer or grammars: the services send its requests upstream
instead of calling ``generate`` (docs/remote-engines.md).

Threads. ``generate`` is called on the event loop. ``tokenize``, ``detokenize`` and
``compile_grammar`` may block for milliseconds (a long prompt, a large schema): callers
run them off the loop (``asyncio.to_thread``), and they may run on several threads at
once. ``close`` waits until those calls have returned before the model is freed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from hearth.engine.constraints import CompilesGrammars, Grammar, GrammarCompiler
from hearth.engine.runner import ModelInfo, ModelRunner
from hearth.engine.scheduler import EngineStats, Scheduler
from hearth.engine.sequence import GenerationHandle, GenerationRequest
from hearth.errors import ServiceUnavailable

log = logging.getLogger(__name__)


class ServedModel(CompilesGrammars, Protocol):
    """One chat model as services use it (see module doc)."""

    @property
    def id(self) -> str:
        """The model id requests name (``model``)."""
        ...

    @property
    def created(self) -> int:
        """When the model was made (Unix seconds; ``Model.created``)."""
        ...

    @property
    def owner(self) -> str | None:
        """The organization id of a fine-tuned model; None for a base model."""
        ...

    @property
    def source(self) -> Path:
        """The GGUF file the served weights come from (before any conversion);
        fine-tuning trains from it."""
        ...

    @property
    def info(self) -> ModelInfo:
        """Context length, vocabulary size, chat template and special tokens,
        ``system_fingerprint``."""
        ...

    @property
    def stats(self) -> EngineStats:
        """The engine's latest counters (requests active and waiting, steps, ...)."""
        ...

    def tokenize(self, text: str, *, special: bool) -> list[int]:
        """Token ids of ``text`` (no BOS added); ``special`` parses control tokens such as
        ``<|im_end|>``. Raises ``ServiceUnavailable`` once the model is closed."""
        ...

    def detokenize(self, tokens: Sequence[int]) -> str:
        """The text ``tokens`` spell (control tokens spell nothing; invalid UTF-8 is
        replaced)."""
        ...

    def compile_grammar(
        self, *, json_schema: dict[str, Any] | None = None, lark: str | None = None
    ) -> Grammar:
        """A grammar for ``GenerationRequest.grammar``, from exactly one of a JSON Schema or
        an llguidance Lark source; compiled grammars are cached. Raises ``GrammarError``
        naming what cannot be enforced."""
        ...

    def generate(self, request: GenerationRequest) -> GenerationHandle:
        """Queue ``request`` (on the event loop); its handle yields the events at once.
        Raises ``InvalidRequest`` for a request that can never fit, ``ServiceUnavailable``
        when the queue is full or the model is closing."""
        ...

    def close(self) -> None:
        """Stop generating (pending requests fail with 503) and free the model, once no
        other thread is using it; idempotent."""
        ...


class LocalModel:
    """A ``ServedModel`` in this process: ``runner`` (llama.cpp) run by ``scheduler`` on
    its engine thread, ``grammars`` compiled for the runner's vocabulary. ``runner``,
    ``scheduler`` and ``grammars`` are engine internals (tests and benchmarks read them);
    services use the ``ServedModel`` protocol only."""

    def __init__(
        self,
        model_id: str,
        created: int,
        runner: ModelRunner,
        scheduler: Scheduler,
        grammars: GrammarCompiler,
        source: Path,
        owner: str | None = None,
    ) -> None:
        self._id = model_id
        self._created = created
        self._source = source
        self._owner = owner
        self.runner = runner
        self.scheduler = scheduler
        self.grammars = grammars
        self._state = threading.Condition()
        self._users = 0  # threads inside tokenize / detokenize / compile_grammar
        self._closed = False

    @property
    def id(self) -> str:
        return self._id

    @property
    def created(self) -> int:
        return self._created

    @property
    def owner(self) -> str | None:
        return self._owner

    @property
    def source(self) -> Path:
        return self._source

    @property
    def info(self) -> ModelInfo:
        return self.runner.info

    @property
    def stats(self) -> EngineStats:
        return self.scheduler.stats

    def tokenize(self, text: str, *, special: bool) -> list[int]:
        with self._using():
            return self.runner.tokenize(text, special=special)

    def detokenize(self, tokens: Sequence[int]) -> str:
        with self._using():
            data = b"".join(self.runner.token_bytes(t) for t in tokens)
        return data.decode("utf-8", "replace")

    def compile_grammar(
        self, *, json_schema: dict[str, Any] | None = None, lark: str | None = None
    ) -> Grammar:
        with self._using():
            return self.grammars.compile_grammar(json_schema=json_schema, lark=lark)

    def generate(self, request: GenerationRequest) -> GenerationHandle:
        if self._closed:
            raise ServiceUnavailable("The engine is shutting down.")
        return self.scheduler.submit(request)

    def close(self) -> None:
        with self._state:
            if self._closed:
                return
            self._closed = True
            self._state.wait_for(lambda: self._users == 0)
        if self.scheduler.stop():
            self.runner.close()
        else:  # freeing the model under a running decode would crash the process
            log.error("engine thread of %s did not stop; its memory is not freed", self._id)

    @contextmanager
    def _using(self) -> Iterator[None]:
        """Hold the model open for a call from a non-engine thread (llama.cpp's vocabulary
        and llguidance's copy of it point into the model's memory)."""
        with self._state:
            if self._closed:
                raise ServiceUnavailable("The model was unloaded; retry the request.")
            self._users += 1
        try:
            yield
        finally:
            with self._state:
                self._users -= 1
                self._state.notify_all()
