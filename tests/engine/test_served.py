"""``LocalModel``: the ``ServedModel`` interface over a runner and its scheduler thread,
and closing only once no other thread is using the model."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from hearth.engine.constraints import GrammarCompiler, GrammarError
from hearth.engine.scheduler import Scheduler
from hearth.engine.sequence import GenerationRequest
from hearth.engine.served import LocalModel, ServedModel
from hearth.errors import ServiceUnavailable
from tests.engine.test_scheduler import GREEDY, FakeRunner, collect

pytestmark = pytest.mark.anyio


def local(runner: FakeRunner) -> LocalModel:
    scheduler = Scheduler(runner, batch_tokens=8)
    scheduler.start()
    return LocalModel(
        "fake",
        1_700_000_000,
        runner,
        scheduler,
        GrammarCompiler(runner.grammar_tokenizer()),
        Path("fake.gguf"),
        "org-a",
    )


async def test_served_model_interface() -> None:
    runner = FakeRunner()
    model: ServedModel = local(runner)
    try:
        assert (model.id, model.created, model.owner) == ("fake", 1_700_000_000, "org-a")
        assert model.info.context_length == 512 and model.info.fingerprint == "fp_fake"
        assert model.tokenize("abc", special=False) == [0, 1, 2]
        assert model.detokenize([1, 2, 3]) == "bcd"
        grammar = model.compile_grammar(lark='start: "c" "a"')
        assert model.compile_grammar(lark='start: "c" "a"') is grammar  # cached
        with pytest.raises(GrammarError):
            model.compile_grammar(lark="start: missing_rule")
        with pytest.raises(ValueError):
            model.compile_grammar()
        texts, reasons, _ = await collect(
            model.generate(
                GenerationRequest(prompt=[0], params=GREEDY, max_tokens=5, grammar=grammar)
            )
        )
        assert texts == {0: "ca"} and reasons == {0: "stop"}
        assert model.stats.steps > 0
    finally:
        model.close()
    assert runner.closed


async def test_close_waits_for_threads_using_the_model_then_refuses() -> None:
    entered, release = threading.Event(), threading.Event()

    class SlowTokenizer(FakeRunner):
        def tokenize(self, text: str, *, special: bool) -> list[int]:
            entered.set()
            assert release.wait(10)
            return super().tokenize(text, special=special)

    runner = SlowTokenizer()
    model = local(runner)
    tokens: list[list[int]] = []
    user = threading.Thread(target=lambda: tokens.append(model.tokenize("ab", special=False)))
    user.start()
    assert entered.wait(10)
    closer = threading.Thread(target=model.close)
    closer.start()
    closer.join(0.2)
    assert closer.is_alive() and not runner.closed  # the tokenizer is still in use
    release.set()
    user.join(10)
    closer.join(10)
    assert tokens == [[0, 1]] and runner.closed
    for call in (
        lambda: model.tokenize("a", special=False),
        lambda: model.compile_grammar(lark='start: "a"'),
        lambda: model.generate(GenerationRequest(prompt=[0], params=GREEDY, max_tokens=1)),
    ):
        with pytest.raises(ServiceUnavailable):
            call()
    model.close()  # idempotent
