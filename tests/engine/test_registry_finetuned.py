"""Fine-tuned models served beside the base: lazy load, organization scoping, LRU unload.

Real GGUFs through the real llama.cpp runner and scheduler: the bundled model converted
to Q8_0 stands in for a merged fine-tune, and the bundled Q4_1 file for a second one (a
different file is a different model). The catalog is a fake (unit level).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hearth.engine import registry as registry_module
from hearth.engine.events import Completed, Failed, TokenDelta
from hearth.engine.registry import HANDOFF_SECONDS, ExtraModel, ModelRegistry
from hearth.engine.sampling import SamplingParams
from hearth.engine.sequence import GenerationHandle, GenerationRequest
from hearth.engine.served import LocalModel, ServedModel
from hearth.engine.weights import bundled_chat_model, converted
from hearth.errors import ModelNotFound, ServiceUnavailable
from hearth.services.chat.params import ChatCompletionParams
from hearth.services.chat.prepare import generation_request
from tests import conftest
from tests.conftest import NO_EOG

pytestmark = pytest.mark.anyio
ORG, OTHER = "org-owner", "org-other"
A = "ft:smollm2-135m-instruct:owner::ftjob-a"
B = "ft:smollm2-135m-instruct:owner::ftjob-b"


class FakeCatalog:
    def __init__(self, models: list[ExtraModel]) -> None:
        self.models = {m.id: m for m in models}

    def resolve(self, model_id: str) -> ExtraModel | None:
        return self.models.get(model_id)

    def list(self, organization_id: str) -> list[ExtraModel]:
        return [m for m in self.models.values() if m.owner == organization_id]

    def delete(self, model_id: str, organization_id: str) -> bool:
        return self.models.pop(model_id, None) is not None


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("finetuned")


@pytest.fixture(scope="module")
def ft_files(data_dir: Path) -> tuple[Path, Path]:
    bundled = bundled_chat_model().path
    return converted(bundled, "q8_0", data_dir / "sources"), bundled


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def registry(
    data_dir: Path, ft_files: tuple[Path, Path], clock: FakeClock
) -> Iterator[ModelRegistry]:
    # one llama.cpp thread: under CPU contention (the suite runs beside other work) a
    # thread pool spinning at barriers makes each decode step many times slower
    settings = conftest.test_settings(
        data_dir, bundled_models=False, finetuned_models_loaded=1, threads=1
    )
    reg = ModelRegistry.load(settings.engine, clock)
    reg.set_catalog(
        FakeCatalog(
            [
                ExtraModel(A, ft_files[0], ORG, 1_700_000_000),
                ExtraModel(B, ft_files[1], ORG, 1_700_000_001),
            ]
        )
    )
    yield reg
    reg.close()


def submit(
    served: ServedModel,
    content: str = "Say hello.",
    max_tokens: int = 8,
) -> GenerationHandle:
    params = ChatCompletionParams.model_validate(
        {
            "model": served.id,
            "messages": [{"role": "user", "content": content}],
            "temperature": 0,
            "max_completion_tokens": max_tokens,
            "logit_bias": NO_EOG,
        }
    )
    request, _ = generation_request(params, served)
    return served.generate(request)


async def answer(handle: GenerationHandle) -> str:
    text = ""
    while True:
        event = await handle.next()
        if isinstance(event, TokenDelta):
            text += event.text
        elif isinstance(event, Completed):
            return text
        elif isinstance(event, Failed):
            raise event.error


async def stopped(served: ServedModel) -> bool:
    """Whether the model's engine thread was stopped (its runner freed with it)."""
    try:
        handle = served.generate(
            GenerationRequest(prompt=[1], params=SamplingParams(), max_tokens=1)
        )
    except ServiceUnavailable:
        return True
    await answer(handle)
    return False


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the engine never got there")


async def until_idle(served: ServedModel) -> None:
    await until(lambda: not served.stats.active_requests and not served.stats.waiting_requests)


async def test_owner_chats_through_its_model_converted_like_the_base(
    registry: ModelRegistry, ft_files: tuple[Path, Path], data_dir: Path
) -> None:
    served = await registry.aget(A, ORG)
    assert (served.id, served.owner, served.created) == (A, ORG, 1_700_000_000)
    assert served.source == ft_files[0]  # the original file, for the trainer
    weights = Path(served.info.path)
    assert weights.name.endswith(".f16.gguf")  # weight_format, like the base
    assert weights.is_relative_to(data_dir / "models" / "finetuned")
    assert isinstance(served, LocalModel)
    assert served.runner.kv_cells == 2048  # a quarter of 8192, at least context_length
    text = await answer(submit(served))
    assert text.strip()
    assert await registry.aget(A, ORG) is served


async def test_another_organization_gets_model_not_found(registry: ModelRegistry) -> None:
    with pytest.raises(ModelNotFound) as unknown:
        registry.get("ft:nope", OTHER)
    for org in (OTHER, None):
        with pytest.raises(ModelNotFound) as err:
            await registry.aget(A, org)  # not loaded yet: nothing is loaded for them
        assert err.value.to_dict()["error"] == {
            **unknown.value.to_dict()["error"],
            "message": unknown.value.message.replace("ft:nope", A),
        }
    assert registry.loaded() == []
    await registry.aget(A, ORG)
    with pytest.raises(ModelNotFound):
        await registry.aget(A, OTHER)  # loaded for its owner, still hidden from others
    assert [m.id for m in registry.list(ORG)] == [A, B]  # loaded or not
    assert registry.list(OTHER) == [] and registry.list() == []


async def test_least_recently_used_model_unloads_when_idle(
    registry: ModelRegistry, clock: FakeClock
) -> None:
    a = await registry.aget(A, ORG)
    b = await registry.aget(B, ORG)  # A was handed out just now: both stay for a while
    long_run = submit(a, "Count to a thousand.", max_tokens=1500)
    await until(lambda: a.stats.active_requests > 0)
    clock.now += HANDOFF_SECONDS
    assert await registry.aget(B, ORG) is b
    # over the limit of 1 rather than cutting off A's request
    assert [m.id for m in registry.loaded()] == [A, B]
    assert not await stopped(a)
    long_run.cancel()
    await until_idle(a)
    clock.now += HANDOFF_SECONDS
    assert await registry.aget(B, ORG) is b
    assert [m.id for m in registry.loaded()] == [B]
    assert await stopped(a)
    # used again: loaded anew, and now B is the one to go
    a2 = await registry.aget(A, ORG)
    assert a2 is not a and (await answer(submit(a2))).strip()
    await until_idle(a2)
    clock.now += HANDOFF_SECONDS
    await registry.aget(A, ORG)
    assert [m.id for m in registry.loaded()] == [A]
    assert await stopped(b)


async def test_concurrent_first_requests_load_once(
    registry: ModelRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    loads: list[str] = []
    real_load = registry_module._load

    def counting_load(*args: object, **kwargs: object) -> ServedModel:
        loads.append(str(args[0]))
        return real_load(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(registry_module, "_load", counting_load)
    got = await asyncio.gather(*(registry.aget(A, ORG) for _ in range(4)))
    assert len(loads) == 1 and all(g is got[0] for g in got)

    barrier = threading.Barrier(3)
    results: list[ServedModel] = []

    def first_get() -> None:
        barrier.wait()
        results.append(registry.get(B, ORG))

    threads = [threading.Thread(target=first_get) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(loads) == 2 and len(results) == 3 and all(r is results[0] for r in results)


async def test_forget_unloads_and_deletes_converted_weights(
    registry: ModelRegistry, clock: FakeClock
) -> None:
    a = await registry.aget(A, ORG)
    converted_dir = Path(a.info.path).parent
    registry.forget(A)
    assert registry.loaded() == [] and not converted_dir.exists()
    clock.now += HANDOFF_SECONDS  # it was handed out just now: it goes once that is past
    await registry.aget(B, ORG)
    assert await stopped(a)
    registry.forget("ft:never-loaded")  # no-op
    again = await registry.aget(A, ORG)  # still in the catalog: loads again
    assert again is not a and (await answer(submit(again))).strip()
