"""client.files through the SDK, in-process: upload for every purpose, list (purpose
filter, cursor pagination both ways), retrieve, content, delete, expiry, size limit,
bad requests and project isolation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import openai
import pytest

from hearth.domain import Principal
from hearth.errors import InvalidRequest, NotFound
from hearth.services import files as files_module
from hearth.services.container import Services
from tests.conftest import API_KEY, new_project

pytestmark = pytest.mark.anyio

AUTH = {"Authorization": f"Bearer {API_KEY}"}
PURPOSES = ["fine-tune", "evals", "user_data", "assistants", "batch", "vision"]


def blob_files(svc: Services) -> set[Path]:
    return {p for p in svc.files.blobs.root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("purpose", PURPOSES)
async def test_upload_retrieve_content_delete(
    client: openai.AsyncOpenAI, services: Services, purpose: str
) -> None:
    data = f'{{"purpose": "{purpose}"}}\n'.encode() + bytes(range(256))
    created = await client.files.create(file=("data.jsonl", data), purpose=purpose)  # type: ignore[arg-type]
    assert created.id.startswith("file-") and len(created.id) == len("file-") + 24
    assert created.id[5:].isalnum()
    assert (created.object, created.bytes, created.filename, created.purpose) == (
        "file",
        len(data),
        "data.jsonl",
        purpose,
    )
    assert created.status == "processed" and created.status_details is None
    # OpenAI: batch files expire after 30 days by default, others never
    assert created.expires_at == (created.created_at + 30 * 86400 if purpose == "batch" else None)

    assert await client.files.retrieve(created.id) == created
    assert (await client.files.content(created.id)).content == data
    assert created.id in [f.id async for f in client.files.list(purpose=purpose)]

    before = blob_files(services)
    deleted = await client.files.delete(created.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (created.id, "file", True)
    assert len(before - blob_files(services)) == 1  # the bytes are gone too
    with pytest.raises(openai.NotFoundError) as err:
        await client.files.retrieve(created.id)
    assert err.value.body["message"] == f"No such File object: {created.id}"  # type: ignore[index]
    with pytest.raises(openai.NotFoundError):
        await client.files.content(created.id)
    with pytest.raises(openai.NotFoundError):
        await client.files.delete(created.id)
    assert created.id not in [f.id async for f in client.files.list()]


async def test_list_filters_and_paginates_both_ways(fresh: openai.AsyncOpenAI) -> None:
    made = [
        await fresh.files.create(file=(f"u{i}.txt", b"x" * i), purpose="user_data")
        for i in range(5)
    ]
    evals = await fresh.files.create(file=("e.jsonl", b"{}\n"), purpose="evals")
    ids = [f.id for f in made]

    everything = await fresh.files.list()  # default: newest first, one page
    assert [f.id for f in everything.data] == [evals.id, *reversed(ids)]
    assert everything.has_more is False

    first = await fresh.files.list(purpose="user_data", limit=2)
    assert [f.id for f in first.data] == ids[:-3:-1] and first.has_more is True
    assert [f.id async for f in fresh.files.list(purpose="user_data", limit=2)] == ids[::-1]
    assert [f.id async for f in fresh.files.list(purpose="user_data", limit=2, order="asc")] == ids
    assert [f.id async for f in fresh.files.list(purpose="evals")] == [evals.id]
    assert [f.id async for f in fresh.files.list(purpose="batch")] == []
    after = await fresh.files.list(after=ids[2], order="asc")
    assert [f.id for f in after.data] == [ids[3], ids[4], evals.id]

    for limit in (0, 10_001):
        with pytest.raises(openai.BadRequestError) as err:
            await fresh.files.list(limit=limit)
        assert err.value.param == "limit"
    with pytest.raises(openai.BadRequestError) as err:
        await fresh.files.list(order="sideways")  # type: ignore[arg-type]
    assert err.value.param == "order"


async def test_expires_after(
    fresh: openai.AsyncOpenAI, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    short = await fresh.files.create(
        file=("a.txt", b"a"),
        purpose="user_data",
        expires_after={"anchor": "created_at", "seconds": 3600},
    )
    assert short.expires_at == short.created_at + 3600
    kept = await fresh.files.create(file=("b.txt", b"b"), purpose="user_data")
    blobs = blob_files(services)

    later = short.created_at + 3600
    monkeypatch.setattr(files_module, "now_unix", lambda: later)
    # expired: gone everywhere, as if deleted, and its bytes are cleaned up
    assert [f.id async for f in fresh.files.list()] == [kept.id]
    with pytest.raises(openai.NotFoundError):
        await fresh.files.retrieve(short.id)
    with pytest.raises(openai.NotFoundError):
        await fresh.files.content(short.id)
    assert len(blobs - blob_files(services)) == 1
    assert (await fresh.files.content(kept.id)).content == b"b"

    for seconds in (3599, 2_592_001):
        with pytest.raises(openai.BadRequestError) as err:
            await fresh.files.create(
                file=("c.txt", b"c"),
                purpose="user_data",
                expires_after={"anchor": "created_at", "seconds": seconds},
            )
        assert err.value.param == "expires_after.seconds"
    with pytest.raises(openai.BadRequestError) as err:
        await fresh.files.create(
            file=("c.txt", b"c"),
            purpose="user_data",
            expires_after={
                "anchor": "last_active_at",  # type: ignore[arg-type]
                "seconds": 3600,
            },
        )
    assert err.value.param == "expires_after.anchor"


def multipart(purpose: str, data: bytes) -> tuple[str, bytes]:
    boundary = "hearth-test-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\n'
            f'{purpose}\r\n--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="big.bin"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return f"multipart/form-data; boundary={boundary}", body


async def test_too_large_is_413_and_keeps_nothing(
    client: openai.AsyncOpenAI,
    http: httpx2.AsyncClient,
    services: Services,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(services.files, "_max_bytes", 1000)
    blobs = blob_files(services)
    listed = [f.id async for f in client.files.list()]

    ok = await client.files.create(file=("ok.bin", b"k" * 1000), purpose="user_data")
    assert ok.bytes == 1000
    await client.files.delete(ok.id)
    # over the limit by a little (caught while storing) and by a lot (from Content-Length)
    for size in (1001, 3 << 20):
        with pytest.raises(openai.APIStatusError) as err:
            await client.files.create(file=("big.bin", b"b" * size), purpose="user_data")
        assert err.value.status_code == 413
        assert err.value.param == "file" and err.value.code == "file_too_large"

    # a chunked body (no Content-Length) is cut off once it passes the limit
    content_type, body = multipart("user_data", b"c" * (3 << 20))

    async def chunked() -> AsyncIterator[bytes]:
        for i in range(0, len(body), 65536):
            yield body[i : i + 65536]

    response = await http.post(
        "/v1/files", content=chunked(), headers={**AUTH, "Content-Type": content_type}
    )
    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "file_too_large"

    assert [f.id async for f in client.files.list()] == listed
    assert blob_files(services) == blobs  # no blob, no temporary file left behind


async def test_bad_requests(client: openai.AsyncOpenAI, http: httpx2.AsyncClient) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        await client.files.create(file=("a.txt", b"a"), purpose="fine-tune-results")  # type: ignore[arg-type]
    assert err.value.param == "purpose" and err.value.code == "invalid_value"
    assert "fine-tune-results" in err.value.message

    no_file = await http.post("/v1/files", headers=AUTH, files={"purpose": (None, "evals")})
    assert no_file.status_code == 400
    assert no_file.json()["error"]["param"] == "file"
    assert "Missing required parameter: 'file'" in no_file.json()["error"]["message"]

    no_purpose = await http.post("/v1/files", headers=AUTH, files={"file": ("a.txt", b"a")})
    assert no_purpose.status_code == 400
    assert no_purpose.json()["error"]["param"] == "purpose"

    text_file = await http.post(
        "/v1/files", headers=AUTH, files={"purpose": (None, "evals"), "file": (None, "abc")}
    )
    assert text_file.status_code == 400 and text_file.json()["error"]["param"] == "file"

    as_json = await http.post("/v1/files", headers=AUTH, json={"purpose": "evals"})
    assert as_json.status_code == 400
    assert "multipart/form-data" in as_json.json()["error"]["message"]

    broken = await http.post(
        "/v1/files",
        content=b"--x\r\nnot a part",
        headers={**AUTH, "Content-Type": "multipart/form-data"},
    )
    assert broken.status_code == 400 and "error" in broken.json()


async def test_projects_cannot_see_each_others_files(
    client: openai.AsyncOpenAI, fresh: openai.AsyncOpenAI
) -> None:
    mine = await client.files.create(file=("secret.txt", b"secret"), purpose="user_data")
    assert [f.id async for f in fresh.files.list()] == []
    with pytest.raises(openai.NotFoundError):
        await fresh.files.retrieve(mine.id)
    with pytest.raises(openai.NotFoundError):
        await fresh.files.content(mine.id)
    with pytest.raises(openai.NotFoundError):
        await fresh.files.delete(mine.id)
    with pytest.raises(openai.BadRequestError) as err:  # not even as a cursor
        await fresh.files.list(after=mine.id)
    assert err.value.param == "after"
    assert (await client.files.content(mine.id)).content == b"secret"
    await client.files.delete(mine.id)


async def test_service_read_and_create_bytes(
    client: openai.AsyncOpenAI, services: Services
) -> None:
    project_id = new_project(services)[0]
    own = services.api_keys.verify(API_KEY)
    assert own is not None
    other = Principal.for_project(own.organization_id, project_id)
    files = services.files
    made = await files.create_bytes(own, "results.csv", b"step,loss\n1,0.5\n", "fine-tune-results")
    assert (await client.files.retrieve(made.id)).purpose == "fine-tune-results"
    assert (await client.files.content(made.id)).content == b"step,loss\n1,0.5\n"

    obj, data = await files.read(own, made.id, purposes=None, param="file_id")
    assert (obj, data) == (made, b"step,loss\n1,0.5\n")
    with pytest.raises(InvalidRequest) as bad:
        await files.read(own, made.id, purposes=("fine-tune",), param="training_file")
    assert bad.value.param == "training_file" and made.id in bad.value.message
    assert "fine-tune-results" in bad.value.message and "'fine-tune'" in bad.value.message
    for caller, file_id in ((other, made.id), (own, "file-nope")):
        with pytest.raises(NotFound) as missing:
            await files.read(caller, file_id, purposes=("fine-tune",), param="training_file")
        assert missing.value.param == "training_file"
    with pytest.raises(InvalidRequest):
        await files.create_bytes(own, "x", b"x", "nonsense")
    assert (await files.delete(own, made.id)).deleted is True


async def test_evals_purpose_and_server_purposes_round_trip(fresh: openai.AsyncOpenAI) -> None:
    """``evals`` is an upload purpose (``FilePurpose``) that the SDK's ``FileObject``
    Literal lacks; it is served as stored, in every response."""
    made = await fresh.files.create(file=("e.jsonl", b"{}\n"), purpose="evals")
    assert made.purpose == "evals"  # type: ignore[comparison-overlap]
    assert (await fresh.files.retrieve(made.id)).purpose == "evals"  # type: ignore[comparison-overlap]
    assert [f.purpose for f in (await fresh.files.list()).data] == ["evals"]


async def test_form_field_shapes(http: httpx2.AsyncClient) -> None:
    """``a[b]`` form keys nest (``expires_after[seconds]``); a key sent both as an object
    and as something else is a 400 naming it."""
    r = await http.post(
        "/v1/files",
        headers=AUTH,
        files={
            "purpose": (None, "user_data"),
            "expires_after[anchor]": (None, "created_at"),
            "expires_after[seconds]": (None, "7200"),
            "file": ("a.txt", b"a"),
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["expires_at"] == r.json()["created_at"] + 7200
    r = await http.post(
        "/v1/files",
        headers=AUTH,
        files={
            "purpose": (None, "user_data"),
            "expires_after[]": (None, "created_at"),
            "expires_after[seconds]": (None, "7200"),
            "file": ("a.txt", b"a"),
        },
    )
    assert r.status_code == 400 and r.json()["error"]["param"] == "expires_after"
