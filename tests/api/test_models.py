"""client.models through the SDK, in-process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx2
import openai
import pytest

from hearth.engine.registry import ExtraModel
from hearth.engine.weights import bundled_chat_model, converted
from hearth.services.container import Services
from tests.conftest import API_KEY, MODEL
from tests.contract import check
from tests.engine.test_registry_finetuned import FakeCatalog

pytestmark = pytest.mark.anyio


async def test_list_contains_bundled_models(client: openai.AsyncOpenAI) -> None:
    page = await client.models.list()
    ids = [m.id for m in page.data]
    assert ids == [
        MODEL,
        "gemma-3-270m",
        "piper",
        "tts-1",
        "tts-1-hd",
        "gpt-4o-mini-tts",
        "gpt-4o-mini-tts-2025-12-15",
        "whisper-tiny.en",
        "whisper-base",
        "whisper-1",
        "gpt-4o-transcribe",
        "gpt-4o-mini-transcribe",
        "all-minilm-l6-v2",
        "text-embedding-3-small",
        "text-embedding-3-large",
        "text-embedding-ada-002",
    ]
    assert all(m.object == "model" and m.owned_by == "hearth" for m in page.data)


async def test_retrieve_speech_model(client: openai.AsyncOpenAI) -> None:
    assert (await client.models.retrieve("whisper-1")).id == "whisper-1"


async def test_wire_shape_is_openais(http: httpx2.AsyncClient) -> None:
    auth = {"Authorization": f"Bearer {API_KEY}"}
    r = await http.get(f"/v1/models/{MODEL}", headers=auth)
    assert r.json() == {
        "id": MODEL,
        "object": "model",
        "created": r.json()["created"],
        "owned_by": "hearth",
        "shutdown_date": None,
    }
    listing = (await http.get("/v1/models", headers=auth)).json()
    assert set(listing) == {"object", "data"} and listing["object"] == "list"
    assert listing["data"][0] == r.json()


async def test_retrieve(client: openai.AsyncOpenAI) -> None:
    model = await client.models.retrieve(MODEL)
    assert model.id == MODEL and model.created > 0


async def test_retrieve_unknown_is_404(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as err:
        await client.models.retrieve("gpt-9")
    assert err.value.code == "model_not_found"
    assert err.value.body == {
        "message": err.value.body["message"],
        "type": "invalid_request_error",
        "param": "model",
        "code": "model_not_found",
    }


# fine-tuned models -----------------------------------------------------------------
OWN = "ft:smollm2-135m-instruct:default::ftjob-own"
OWN_2 = "ft:smollm2-135m-instruct:default::ftjob-own2"
OTHERS = "ft:smollm2-135m-instruct:other::ftjob-other"


@pytest.fixture
def catalog(services: Services, tmp_path: Path) -> Iterator[FakeCatalog]:
    """Two fine-tuned models of the test key's organization (real GGUFs that can load)
    and one of another organization, in place of the shared services' catalog until
    teardown."""
    org = services.api_keys.verify(API_KEY).organization_id  # type: ignore[union-attr]
    gguf = converted(bundled_chat_model().path, "q8_0", tmp_path)
    fake = FakeCatalog(
        [
            ExtraModel(OWN, gguf, org, 1_700_000_000),
            ExtraModel(OWN_2, gguf, org, 1_700_000_001),
            ExtraModel(OTHERS, gguf, "org-someone-else", 1_700_000_002),
        ]
    )
    previous = services.registry.catalog
    services.registry.set_catalog(fake)
    yield fake
    services.registry.set_catalog(previous)
    for model_id in (OWN, OWN_2, OTHERS):
        services.registry.forget(model_id)


async def test_list_includes_own_organizations_finetuned_models(
    client: openai.AsyncOpenAI, services: Services, catalog: FakeCatalog
) -> None:
    page = await client.models.list()
    org = services.api_keys.verify(API_KEY).organization_id  # type: ignore[union-attr]
    owners = {m.id: m.owned_by for m in page.data}
    assert [m.id for m in page.data][:4] == [MODEL, "gemma-3-270m", OWN, OWN_2]
    assert owners[MODEL] == owners["whisper-1"] == "hearth"
    assert owners[OWN] == owners[OWN_2] == org
    assert OTHERS not in owners


async def test_retrieve_finetuned_model(
    client: openai.AsyncOpenAI, services: Services, catalog: FakeCatalog
) -> None:
    model = await client.models.retrieve(OWN)
    org = services.api_keys.verify(API_KEY).organization_id  # type: ignore[union-attr]
    assert (model.id, model.object, model.created, model.owned_by) == (
        OWN,
        "model",
        1_700_000_000,
        org,
    )
    with pytest.raises(openai.NotFoundError) as err:
        await client.models.retrieve(OTHERS)
    assert err.value.code == "model_not_found"


async def test_delete_finetuned_model_unloads_it(
    client: openai.AsyncOpenAI, http: httpx2.AsyncClient, services: Services, catalog: FakeCatalog
) -> None:
    org = services.api_keys.verify(API_KEY).organization_id  # type: ignore[union-attr]
    await services.registry.aget(OWN, org)  # loaded, as after a chat completion
    assert OWN in [m.id for m in services.registry.loaded()]
    deleted = await client.models.delete(OWN)
    assert (deleted.id, deleted.object, deleted.deleted) == (OWN, "model", True)
    assert OWN not in catalog.models
    assert OWN not in [m.id for m in services.registry.loaded()]
    assert OWN not in [m.id for m in (await client.models.list()).data]
    with pytest.raises(openai.NotFoundError):
        await client.models.retrieve(OWN)
    with pytest.raises(openai.NotFoundError):
        await client.models.delete(OWN)
    r = await http.delete(f"/v1/models/{OWN_2}", headers={"Authorization": f"Bearer {API_KEY}"})
    assert r.json() == {"id": OWN_2, "object": "model", "deleted": True}
    check("model.deleted", r.content)


async def test_delete_another_organizations_or_unknown_model_is_404(
    client: openai.AsyncOpenAI, catalog: FakeCatalog
) -> None:
    for model_id in (OTHERS, "ft:nope"):
        with pytest.raises(openai.NotFoundError) as err:
            await client.models.delete(model_id)
        assert err.value.code == "model_not_found"
        assert err.value.body["param"] == "model"  # type: ignore[index]
    assert OTHERS in catalog.models


async def test_delete_base_model_is_403(client: openai.AsyncOpenAI) -> None:
    for model_id in (MODEL, "whisper-1"):
        with pytest.raises(openai.PermissionDeniedError) as err:
            await client.models.delete(model_id)
        assert err.value.body["param"] == "model"  # type: ignore[index]
    assert MODEL in [m.id for m in (await client.models.list()).data]
