"""client.containers and client.containers.files through the SDK against real sandboxes:
defaults, paging and the name filter, uploads (multipart and by file id), exact
content, deletion, project isolation, refused requests, code that writes files
(``Containers.execute``, what the Responses tool calls) and expiry."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest

from hearth.domain import PageParams, Principal
from hearth.errors import InvalidRequest
from hearth.jobs.bus import RedisBus
from hearth.sandbox import Sandboxes
from hearth.services import container_hosts
from hearth.services.container import Services
from hearth.services.containers import Containers, CreateParams
from hearth.store.containers import ContainerRepository
from hearth.store.db import session_factory
from tests.conftest import API_KEY, new_project, sdk

pytestmark = pytest.mark.anyio


class Project:
    """A new, empty project: its SDK client and its caller (for service calls)."""

    def __init__(self, client: openai.AsyncOpenAI, caller: Principal) -> None:
        self.client = client
        self.caller = caller


@pytest.fixture
async def project(
    services: Services, http: httpx2.AsyncClient, sandboxes: Sandboxes
) -> AsyncIterator[Project]:
    key = new_project(services)[1]
    caller = await services.auth.authenticate(key)
    # not closed here: closing the SDK closes the shared ``http`` client
    yield Project(sdk(http, key), caller)
    # containers hold kernels and mounts: leave none behind
    for c in (await services.containers.list(caller, PageParams(limit=100))).data:
        await services.containers.delete(caller, c.id)


async def test_create_defaults_retrieve_list_and_delete(
    project: Project, services: Services, http: httpx2.AsyncClient
) -> None:
    client = project.client
    created = await client.containers.create(name="analysis")
    assert created.id.startswith("cntr_")
    assert (created.object, created.name, created.status, created.memory_limit) == (
        "container",
        "analysis",
        "running",
        "1g",
    )
    assert created.expires_after is not None
    assert (created.expires_after.anchor, created.expires_after.minutes) == ("last_active_at", 20)
    assert created.network_policy is not None and created.network_policy.type == "disabled"
    assert created.last_active_at == created.created_at
    assert abs(created.created_at - time.time()) < 10
    assert services.sandboxes.exists(created.id)

    got = await client.containers.retrieve(created.id)
    assert got.model_dump() == created.model_dump()

    big = await client.containers.create(
        name="big", memory_limit="4g", expires_after={"anchor": "last_active_at", "minutes": 5}
    )
    assert big.memory_limit == "4g" and big.expires_after.minutes == 5  # type: ignore[union-attr]
    third = await client.containers.create(name="analysis")

    newest_first = [c.id async for c in client.containers.list()]
    assert newest_first == [third.id, big.id, created.id]
    oldest_first = [c.id async for c in client.containers.list(order="asc")]
    assert oldest_first == newest_first[::-1]
    page = await client.containers.list(limit=2)
    assert [c.id for c in page.data] == [third.id, big.id] and page.has_more
    rest = await client.containers.list(limit=2, after=big.id)
    assert [c.id for c in rest.data] == [created.id] and not rest.has_more
    named = [c.id async for c in client.containers.list(name="analysis")]
    assert named == [third.id, created.id]
    assert [c async for c in client.containers.list(name="nothing")] == []

    engine = await http.get("/hearth/engine", headers={"Authorization": f"Bearer {API_KEY}"})
    stats = engine.json()
    assert stats["code_interpreter"] == {"available": True, "reason": None}
    assert created.id in {c["id"] for c in stats["containers"]}

    raw = await http.delete(
        f"/v1/containers/{big.id}", headers={"Authorization": f"Bearer {client.api_key}"}
    )
    assert raw.json() == {"id": big.id, "object": "container.deleted", "deleted": True}
    assert not services.sandboxes.exists(big.id)
    with pytest.raises(openai.NotFoundError):
        await client.containers.retrieve(big.id)
    with pytest.raises(openai.NotFoundError):
        await client.containers.delete(big.id)
    await client.containers.delete(created.id)  # the SDK reads no body: None
    assert [c.id async for c in client.containers.list()] == [third.id]


async def test_files_uploaded_copied_listed_read_and_deleted(
    project: Project, http: httpx2.AsyncClient
) -> None:
    client = project.client
    stored = await client.files.create(file=("table.csv", b"a,b\n1,2\n"), purpose="user_data")
    container = await client.containers.create(name="files", file_ids=[stored.id])
    copied = [f async for f in client.containers.files.list(container.id)]
    assert [(f.path, f.source, f.bytes) for f in copied] == [("/mnt/data/table.csv", "user", 8)]

    payload = bytes(range(256)) * 3  # every byte value: nothing may be decoded on the way
    uploaded = await client.containers.files.create(container.id, file=("dir/blob.bin", payload))
    assert uploaded.id.startswith("cfile_")
    assert (uploaded.object, uploaded.container_id, uploaded.path) == (
        "container.file",
        container.id,
        "/mnt/data/blob.bin",
    )
    assert (uploaded.bytes, uploaded.source) == (len(payload), "user")

    notes = await client.files.create(file=("notes.txt", b"remember"), purpose="assistants")
    by_id = await client.containers.files.create(container.id, file_id=notes.id)
    assert (by_id.path, by_id.bytes, by_id.source) == ("/mnt/data/notes.txt", 8, "user")

    listed = [f.id async for f in client.containers.files.list(container.id)]
    assert listed == [by_id.id, uploaded.id, copied[0].id]
    asc = await client.containers.files.list(container.id, order="asc", limit=1)
    assert [f.id for f in asc.data] == [copied[0].id] and asc.has_more
    got = await client.containers.files.retrieve(uploaded.id, container_id=container.id)
    assert got.model_dump() == uploaded.model_dump()

    content = await client.containers.files.content.retrieve(uploaded.id, container_id=container.id)
    assert content.read() == payload
    table = await client.containers.files.content.retrieve(copied[0].id, container_id=container.id)
    assert table.read() == b"a,b\n1,2\n"

    # uploading the same name again replaces the file (same path, one row)
    again = await client.containers.files.create(container.id, file=("notes.txt", b"changed!!"))
    assert (again.id, again.bytes) == (by_id.id, 9)
    content = await client.containers.files.content.retrieve(again.id, container_id=container.id)
    assert content.read() == b"changed!!"

    raw = await http.delete(
        f"/v1/containers/{container.id}/files/{uploaded.id}",
        headers={"Authorization": f"Bearer {client.api_key}"},
    )
    assert raw.json() == {"id": uploaded.id, "object": "container.file.deleted", "deleted": True}
    with pytest.raises(openai.NotFoundError):
        await client.containers.files.retrieve(uploaded.id, container_id=container.id)
    with pytest.raises(openai.NotFoundError):
        await client.containers.files.content.retrieve(uploaded.id, container_id=container.id)
    await client.containers.files.delete(by_id.id, container_id=container.id)
    assert [f.id async for f in client.containers.files.list(container.id)] == [copied[0].id]


async def test_another_project_sees_nothing(
    project: Project, fresh: openai.AsyncOpenAI, services: Services
) -> None:
    container = await project.client.containers.create(name="private")
    file = await project.client.containers.files.create(container.id, file=("a.txt", b"secret"))
    with pytest.raises(openai.NotFoundError):
        await fresh.containers.retrieve(container.id)
    with pytest.raises(openai.NotFoundError):
        await fresh.containers.files.list(container.id)
    with pytest.raises(openai.NotFoundError):
        await fresh.containers.files.retrieve(file.id, container_id=container.id)
    with pytest.raises(openai.NotFoundError):
        await fresh.containers.files.content.retrieve(file.id, container_id=container.id)
    with pytest.raises(openai.NotFoundError):
        await fresh.containers.files.create(container.id, file=("b.txt", b"intruder"))
    with pytest.raises(openai.NotFoundError):
        await fresh.containers.files.delete(file.id, container_id=container.id)
    with pytest.raises(openai.NotFoundError):
        await fresh.containers.delete(container.id)
    assert [c async for c in fresh.containers.list()] == []
    # nor can it copy this project's files into its own container
    stored = await project.client.files.create(file=("x.txt", b"x"), purpose="user_data")
    with pytest.raises(openai.NotFoundError):
        await fresh.containers.create(name="thief", file_ids=[stored.id])
    assert services.sandboxes.exists(container.id)
    assert (await project.client.containers.retrieve(container.id)).status == "running"


async def test_refused_requests_store_nothing(project: Project, http: httpx2.AsyncClient) -> None:
    client = project.client
    refused: list[tuple[dict[str, Any], type[openai.APIStatusError], str | None]] = [
        ({"name": "x", "memory_limit": "2g"}, openai.BadRequestError, "memory_limit"),
        (
            {"name": "x", "network_policy": {"type": "allowlist", "allowed_domains": ["pypi.org"]}},
            openai.BadRequestError,
            "network_policy.type",
        ),
        (
            {"name": "x", "skills": [{"type": "skill_reference", "skill_id": "skill_1"}]},
            openai.BadRequestError,
            "skills",
        ),
        (
            {"name": "x", "expires_after": {"anchor": "last_active_at", "minutes": 0}},
            openai.BadRequestError,
            "expires_after.minutes",
        ),
        ({"name": "x", "file_ids": ["file-nope"]}, openai.NotFoundError, "file_ids[0]"),
    ]
    for body, error, param in refused:
        with pytest.raises(error) as info:
            await client.containers.create(**body)
        assert info.value.body["param"] == param, body  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as info:
        await client.containers.create(name="x", network_policy={"type": "allowlist"})  # type: ignore[arg-type]
    assert info.value.body["param"] == "network_policy.allowed_domains"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as info:
        await client.containers.create(
            name="x", network_policy={"type": "allowlist", "allowed_domains": ["pypi.org"]}
        )
    assert "network" in info.value.message
    auth = {"Authorization": f"Bearer {client.api_key}"}
    assert (await http.post("/v1/containers", headers=auth, json={})).status_code == 400
    assert [c async for c in client.containers.list()] == []

    container = await client.containers.create(name="ok")
    with pytest.raises(openai.NotFoundError) as info:
        await client.containers.files.create(container.id, file_id="file-nope")
    assert info.value.body["param"] == "file_id"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError):
        await client.containers.files.create(container.id)  # neither file nor file_id
    with pytest.raises(openai.NotFoundError):
        await client.containers.files.retrieve("cfile_nope", container_id=container.id)
    with pytest.raises(openai.NotFoundError):
        await client.containers.retrieve("cntr_nope")
    assert [f async for f in client.containers.files.list(container.id)] == []


async def test_unavailable_host_refuses_with_its_reason(
    services: Services, fresh: openai.AsyncOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(services.sandboxes, "reason", "bubblewrap is missing (test)")
    with pytest.raises(openai.BadRequestError) as info:
        await fresh.containers.create(name="nowhere")
    assert "bubblewrap is missing (test)" in info.value.message
    assert info.value.code == "code_interpreter_unavailable"
    assert [c async for c in fresh.containers.list()] == []


async def test_execute_runs_code_and_records_its_files(
    project: Project, services: Services
) -> None:
    client, caller = project.client, project.caller
    container = await client.containers.create(name="compute")
    doomed = await client.containers.files.create(container.id, file=("doomed.txt", b"bye"))
    code = (
        "rows = [(n, n * n) for n in range(1, 6)]\n"
        "with open('/mnt/data/out.csv', 'w') as f:\n"
        "    f.write('n,square\\n' + ''.join(f'{n},{s}\\n' for n, s in rows))\n"
        "total = sum(s for _, s in rows)\n"
        "print('total', total)\n"
    )
    execution, files = await services.containers.execute(caller, container.id, code)
    assert execution.status == "completed", execution
    assert "total 55" in "".join(o.logs for o in execution.outputs if o.type == "logs")
    assert [(f.path, f.source, f.container_id) for f in files] == [
        ("/mnt/data/out.csv", "assistant", container.id)
    ]
    expected = b"n,square\n1,1\n2,4\n3,9\n4,16\n5,25\n"
    assert files[0].bytes == len(expected)
    listed = {f.path: f async for f in client.containers.files.list(container.id)}
    assert set(listed) == {"/mnt/data/out.csv", "/mnt/data/doomed.txt"}
    out = listed["/mnt/data/out.csv"]
    assert out.id == files[0].id and out.source == "assistant"
    content = await client.containers.files.content.retrieve(out.id, container_id=container.id)
    assert content.read() == expected

    # state carries over; a changed file keeps its id, a removed one is gone
    code = (
        "import os\n"
        "with open('/mnt/data/out.csv', 'a') as f:\n"
        "    f.write(f'total,{total}\\n')\n"
        "os.remove('/mnt/data/doomed.txt')\n"
        "os.makedirs('/mnt/data/charts', exist_ok=True)\n"
        "open('/mnt/data/charts/empty.txt', 'w').close()\n"
    )
    execution, files = await services.containers.execute(caller, container.id, code)
    assert execution.status == "completed", execution
    assert [(f.path, f.id == out.id) for f in files] == [
        ("/mnt/data/charts/empty.txt", False),
        ("/mnt/data/out.csv", True),
    ]
    assert files[1].bytes == len(expected) + len(b"total,55\n")
    with pytest.raises(openai.NotFoundError):
        await client.containers.files.retrieve(doomed.id, container_id=container.id)
    content = await client.containers.files.content.retrieve(out.id, container_id=container.id)
    assert content.read() == expected + b"total,55\n"

    # nothing written: nothing reported; an error is the code's, not the call's
    execution, files = await services.containers.execute(caller, container.id, "1 / 0")
    assert execution.status == "completed" and files == []
    assert "ZeroDivisionError" in "".join(o.logs for o in execution.outputs)

    other = await services.auth.authenticate(new_project(services, "other")[1])
    with pytest.raises(Exception) as info:
        await services.containers.execute(other, container.id, "print(1)")
    assert getattr(info.value, "status_code", None) == 404


async def test_idle_containers_expire(project: Project, services: Services) -> None:
    client, caller = project.client, project.caller
    short = await client.containers.create(
        name="short", expires_after={"anchor": "last_active_at", "minutes": 1}
    )
    long = await client.containers.create(name="long")
    await client.containers.files.create(short.id, file=("kept.txt", b"soon gone"))

    assert await services.containers.expire_idle(now=time.time() + 30) == 0
    assert await services.containers.expire_idle(now=time.time() + 65) == 1
    got = await client.containers.retrieve(short.id)
    assert got.status == "expired"
    assert not services.sandboxes.exists(short.id)
    assert (await client.containers.retrieve(long.id)).status == "running"
    assert services.sandboxes.exists(long.id)
    assert [f async for f in client.containers.files.list(short.id)] == []

    with pytest.raises(openai.BadRequestError) as info:
        await client.containers.files.create(short.id, file=("more.txt", b"late"))
    assert info.value.code == "container_expired" and short.id in info.value.message
    with pytest.raises(InvalidRequest, match=short.id):
        await services.containers.execute(caller, short.id, "print(1)")
    listed = {c.id: c.status async for c in client.containers.list()}
    assert listed == {short.id: "expired", long.id: "running"}
    await client.containers.delete(short.id)
    with pytest.raises(openai.NotFoundError):
        await client.containers.retrieve(short.id)


async def test_overdue_container_is_expired_when_used(project: Project, services: Services) -> None:
    now = [time.time()]
    containers = Containers(
        ContainerRepository(session_factory(services.db)),
        services.files,
        services.sandboxes,
        clock=lambda: now[0],
    )
    caller = project.caller
    created = await containers.create(caller, CreateParams(name="clocked"))
    execution, _ = await containers.execute(caller, created.id, "x = 1")
    assert execution.status == "completed"
    now[0] += 19 * 60  # active 19 minutes ago: still running
    assert (await containers.retrieve(caller, created.id)).status == "running"
    now[0] += 2 * 60
    assert (await containers.retrieve(caller, created.id)).status == "expired"
    assert services.sandboxes.exists(created.id)  # until it is used or the loop comes by
    with pytest.raises(InvalidRequest) as info:
        await containers.execute(caller, created.id, "print(x)")
    assert info.value.code == "container_expired"
    assert not services.sandboxes.exists(created.id)
    assert (await project.client.containers.retrieve(created.id)).status == "expired"


async def test_replicas_use_each_others_containers_and_expire_a_stopped_ones(
    project: Project,
    services: Services,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """Two ``Containers`` on one database and one Redis, each with its own sandboxes,
    stand for two replicas: one that starts leaves the other's live containers running
    and uses them through the bus; once their holder stops answering, they are expired."""
    buses = [RedisBus(redis_url), RedisBus(redis_url)]
    for bus in buses:
        await bus.start()
    repo = ContainerRepository(session_factory(services.db))
    holder = Containers(repo, services.files, services.sandboxes, bus=buses[0])
    own = Sandboxes(dataclasses.replace(services.sandboxes.settings, data_dir=tmp_path))
    other = Containers(repo, services.files, own, bus=buses[1])
    caller = project.caller
    created = await holder.create(caller, CreateParams(name="held"))
    try:
        await other.start()  # the orphan sweep asks the holder, which answers
        await other.stop()
        assert (await other.retrieve(caller, created.id)).status == "running"
        execution, _ = await other.execute(caller, created.id, "print(6 * 7)")
        assert execution.outputs[0].logs == "42\n"
        await buses[0].close()  # the holder is gone: nobody answers for its sandboxes
        monkeypatch.setattr(container_hosts, "ANSWER_SECONDS", 0.3)
        with pytest.raises(InvalidRequest) as info:
            await other.execute(caller, created.id, "print(1)")
        assert info.value.code == "container_expired"
        assert (await other.retrieve(caller, created.id)).status == "expired"
    finally:
        await services.sandboxes.destroy(created.id)
        await own.close()
        await buses[1].close()
