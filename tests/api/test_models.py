"""client.models through the SDK, in-process."""

from __future__ import annotations

import httpx2
import openai
import pytest

from tests.conftest import API_KEY, MODEL

pytestmark = pytest.mark.anyio


async def test_list_contains_bundled_model(client: openai.AsyncOpenAI) -> None:
    page = await client.models.list()
    ids = [m.id for m in page.data]
    assert ids == [MODEL]
    assert page.data[0].object == "model" and page.data[0].owned_by == "hearth"


async def test_wire_shape_is_openais(http: httpx2.AsyncClient) -> None:
    r = await http.get(f"/v1/models/{MODEL}", headers={"Authorization": f"Bearer {API_KEY}"})
    assert set(r.json()) == {"id", "object", "created", "owned_by"}


async def test_retrieve(client: openai.AsyncOpenAI) -> None:
    model = await client.models.retrieve(MODEL)
    assert model.id == MODEL and model.created > 0


async def test_retrieve_unknown_is_404(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as err:
        await client.models.retrieve("gpt-9")
    assert err.value.code == "model_not_found"
    assert err.value.body == {"message": err.value.body["message"],
                              "type": "invalid_request_error", "param": "model",
                              "code": "model_not_found"}
