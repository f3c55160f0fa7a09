"""client.vector_stores, .files, .file_batches and .search through the SDK against the
real bundled embedding model, on SQLite and on PostgreSQL: ingestion of every document
type (upload_and_poll), failures that touch nothing else, search with filters and ranking
options, expiry, deletion down to the chunks, and project isolation."""

from __future__ import annotations

import time
from typing import Any

import anyio
import openai
import pytest
from sqlalchemy import func, select

from hearth.services.container import Services
from hearth.store.db import session_factory
from hearth.store.models import VectorStoreChunk
from tests.retrieval.conftest import FIXTURES

pytestmark = pytest.mark.anyio

DOCS = ["lighthouse.md", "lighthouse.docx", "orchard.pdf", "recipes.html"]


async def upload(vs: openai.AsyncOpenAI, store_id: str, name: str, **kw: Any) -> Any:
    return await vs.vector_stores.files.upload_and_poll(
        vector_store_id=store_id,
        file=(name, (FIXTURES / name).read_bytes()),
        poll_interval_ms=50,
        **kw,
    )


async def search(vs: openai.AsyncOpenAI, store_id: str, query: str, **kw: Any) -> list[Any]:
    page = await vs.vector_stores.search(vector_store_id=store_id, query=query, **kw)
    return list(page.data)


def chunk_count(svc: Services, store_id: str) -> int:
    with session_factory(svc.db)() as s:
        return int(
            s.scalar(select(func.count()).where(VectorStoreChunk.vector_store_id == store_id)) or 0
        )


async def test_every_document_type_is_ingested_and_found(
    vs: openai.AsyncOpenAI, backend: Services
) -> None:
    store = await vs.vector_stores.create(name="knowledge", metadata={"team": "docs"})
    assert (store.object, store.name, store.status, store.metadata) == (
        "vector_store",
        "knowledge",
        "completed",
        {"team": "docs"},
    )
    for name in DOCS:
        f = await upload(vs, store.id, name)
        assert (f.status, f.last_error, f.vector_store_id) == ("completed", None, store.id), name
        assert f.usage_bytes > 0
        assert f.chunking_strategy is not None and f.chunking_strategy.type == "static"
        assert f.chunking_strategy.static.max_chunk_size_tokens == 800  # type: ignore[union-attr]
    facts = {
        "Who relit the lamp in 1897?": "lighthouse",
        "When does grafting season start at the apple orchard?": "orchard.pdf",
        "How long should samphire be blanched for fritters?": "recipes.html",
    }
    for query, source in facts.items():
        hits = await search(vs, store.id, query)
        assert hits and hits[0].filename.startswith(source), (query, hits[:2])
        assert all(0 <= h.score <= 1 for h in hits)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        assert hits[0].content[0].type == "text" and hits[0].content[0].text
    store = await vs.vector_stores.retrieve(store.id)
    assert store.file_counts.completed == len(DOCS) and store.file_counts.total == len(DOCS)
    assert store.usage_bytes > 0 and store.last_active_at is not None
    listed = [f.id async for f in vs.vector_stores.files.list(vector_store_id=store.id)]
    assert len(listed) == len(DOCS)
    content = await vs.vector_stores.files.content(file_id=listed[-1], vector_store_id=store.id)
    text = " ".join(p.text or "" for p in content.data)
    assert "Ada Lowrie" in text  # lighthouse.md was uploaded first: last in the desc list


async def test_bad_files_fail_alone(vs: openai.AsyncOpenAI, backend: Services) -> None:
    store = await vs.vector_stores.create(name="mixed")
    good = await upload(vs, store.id, "lighthouse.md")
    corrupt = await upload(vs, store.id, "corrupt.pdf")
    empty = await upload(vs, store.id, "empty.txt")
    image = await vs.vector_stores.files.upload_and_poll(
        vector_store_id=store.id, file=("photo.png", b"\x89PNG\r\n\x1a\n" + bytes(64))
    )
    assert corrupt.status == "failed" and corrupt.last_error is not None
    assert corrupt.last_error.code == "invalid_file"
    assert empty.status == "failed" and empty.last_error.code == "invalid_file"  # type: ignore[union-attr]
    assert image.status == "failed" and image.last_error.code == "unsupported_file"  # type: ignore[union-attr]
    store = await vs.vector_stores.retrieve(store.id)
    assert (store.file_counts.completed, store.file_counts.failed) == (1, 3)
    assert store.status == "completed"
    hits = await search(vs, store.id, "lamp relit by the keeper")
    assert {h.file_id for h in hits} == {good.id}
    failed = [f.id async for f in vs.vector_stores.files.list(store.id, filter="failed")]
    assert sorted(failed) == sorted([corrupt.id, empty.id, image.id])


async def test_create_with_files_batches_and_attributes(vs: openai.AsyncOpenAI) -> None:
    uploaded = {
        n: await vs.files.create(file=(n, (FIXTURES / n).read_bytes()), purpose="assistants")
        for n in DOCS
    }
    store = await vs.vector_stores.create(
        name="batch",
        file_ids=[uploaded["lighthouse.md"].id],
        chunking_strategy={
            "type": "static",
            "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 50},
        },
    )
    assert store.file_counts.total == 1
    batch = await vs.vector_stores.file_batches.create_and_poll(
        vector_store_id=store.id,
        files=[
            {"file_id": uploaded["orchard.pdf"].id, "attributes": {"kind": "farm", "year": 1921}},
            {"file_id": uploaded["recipes.html"].id, "attributes": {"kind": "food", "year": 1990}},
            {
                "file_id": uploaded["lighthouse.docx"].id,
                "attributes": {"kind": "sea", "year": 1897, "public": True},
            },
        ],
        poll_interval_ms=50,
    )
    assert (batch.object, batch.status, batch.file_counts.completed) == (
        "vector_store.files_batch",
        "completed",
        3,
    )
    in_batch = [
        f
        async for f in vs.vector_stores.file_batches.list_files(batch.id, vector_store_id=store.id)
    ]
    assert {f.id for f in in_batch} == {
        uploaded[n].id for n in ("orchard.pdf", "recipes.html", "lighthouse.docx")
    }
    md = await vs.vector_stores.files.retrieve(
        uploaded["lighthouse.md"].id, vector_store_id=store.id
    )
    assert md.status == "completed"
    assert md.chunking_strategy.static.max_chunk_size_tokens == 100  # type: ignore[union-attr]
    pieces = await vs.vector_stores.files.content(md.id, vector_store_id=store.id)
    assert len(pieces.data) > 1  # 100-token chunks

    async def files_for(flt: dict[str, Any]) -> set[str]:
        hits = await search(vs, store.id, "history", filters=flt, max_num_results=50)
        return {h.filename for h in hits}

    assert await files_for({"type": "eq", "key": "kind", "value": "farm"}) == {"orchard.pdf"}
    assert await files_for({"type": "ne", "key": "kind", "value": "farm"}) == {
        "recipes.html",
        "lighthouse.docx",
        "lighthouse.md",
    }
    assert await files_for({"type": "gt", "key": "year", "value": 1921}) == {"recipes.html"}
    assert await files_for({"type": "gte", "key": "year", "value": 1921}) == {
        "recipes.html",
        "orchard.pdf",
    }
    assert await files_for({"type": "lt", "key": "year", "value": 1921}) == {"lighthouse.docx"}
    assert await files_for({"type": "lte", "key": "year", "value": 1921}) == {
        "lighthouse.docx",
        "orchard.pdf",
    }
    assert await files_for({"type": "in", "key": "kind", "value": ["sea", "food"]}) == {
        "lighthouse.docx",
        "recipes.html",
    }
    assert await files_for({"type": "nin", "key": "kind", "value": ["sea", "food"]}) == {
        "orchard.pdf",
        "lighthouse.md",
    }
    assert await files_for(
        {
            "type": "and",
            "filters": [
                {"type": "gte", "key": "year", "value": 1900},
                {"type": "ne", "key": "kind", "value": "food"},
            ],
        }
    ) == {"orchard.pdf"}
    assert await files_for(
        {
            "type": "or",
            "filters": [
                {"type": "eq", "key": "public", "value": True},
                {"type": "eq", "key": "kind", "value": "food"},
            ],
        }
    ) == {"lighthouse.docx", "recipes.html"}
    # attributes can change after ingestion; filters see the new ones
    await vs.vector_stores.files.update(
        uploaded["orchard.pdf"].id, vector_store_id=store.id, attributes={"kind": "sea"}
    )
    assert await files_for({"type": "eq", "key": "kind", "value": "sea"}) == {
        "orchard.pdf",
        "lighthouse.docx",
    }


async def test_ranking_options_and_query_rewrite(vs: openai.AsyncOpenAI) -> None:
    store = await vs.vector_stores.create(name="ranking")
    for name in DOCS:
        await upload(vs, store.id, name)
    everything = await search(vs, store.id, "lamp relit", max_num_results=50)
    assert len(everything) >= len(DOCS)
    two = await search(vs, store.id, "lamp relit", max_num_results=2)
    assert [h.score for h in two] == [h.score for h in everything[:2]]
    cut = everything[1].score
    above = await search(vs, store.id, "lamp relit", ranking_options={"score_threshold": cut})
    assert above and all(h.score >= cut for h in above) and len(above) < len(everything)
    dense = await search(
        vs,
        store.id,
        "lighthouse lamp",
        extra_body={
            "ranking_options": {"hybrid_search": {"embedding_weight": 1, "text_weight": 0}}
        },
    )
    keyword = await search(
        vs,
        store.id,
        "Lowrie",
        extra_body={
            "ranking_options": {"hybrid_search": {"embedding_weight": 0, "text_weight": 1}}
        },
    )
    assert dense and keyword and keyword[0].filename.startswith("lighthouse")
    assert {h.filename for h in keyword} <= {"lighthouse.md", "lighthouse.docx"}
    page = await vs.vector_stores.search(
        vector_store_id=store.id, query="What is the tuning of the foghorn?", rewrite_query=True
    )
    assert page.search_query == ["tuning foghorn"]  # type: ignore[attr-defined]
    assert page.data[0].filename.startswith("lighthouse")


async def test_deleting_removes_chunks(vs: openai.AsyncOpenAI, backend: Services) -> None:
    store = await vs.vector_stores.create(name="deletions")
    md = await upload(vs, store.id, "lighthouse.md")
    pdf = await upload(vs, store.id, "orchard.pdf")
    before = chunk_count(backend, store.id)
    assert before >= 2
    deleted = await vs.vector_stores.files.delete(md.id, vector_store_id=store.id)
    assert (deleted.id, deleted.deleted, deleted.object) == (
        md.id,
        True,
        "vector_store.file.deleted",
    )
    assert chunk_count(backend, store.id) < before
    assert await vs.files.retrieve(md.id)  # the file itself stays
    assert all(h.file_id != md.id for h in await search(vs, store.id, "lamp relit"))
    # deleting the file itself takes it out of every store
    await vs.files.delete(pdf.id)
    assert chunk_count(backend, store.id) == 0
    with pytest.raises(openai.NotFoundError):
        await vs.vector_stores.files.retrieve(pdf.id, vector_store_id=store.id)
    again = await upload(vs, store.id, "recipes.html")
    assert chunk_count(backend, store.id) > 0
    gone = await vs.vector_stores.delete(store.id)
    assert (gone.id, gone.deleted, gone.object) == (store.id, True, "vector_store.deleted")
    assert chunk_count(backend, store.id) == 0
    assert await vs.files.retrieve(again.id)
    with pytest.raises(openai.NotFoundError):
        await vs.vector_stores.retrieve(store.id)


async def test_expiry(
    vs: openai.AsyncOpenAI, backend: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await vs.vector_stores.create(
        name="short-lived", expires_after={"anchor": "last_active_at", "days": 1}
    )
    assert store.expires_after is not None and store.expires_after.days == 1
    assert store.expires_at == store.last_active_at + 86_400  # type: ignore[operator]
    updated = await vs.vector_stores.update(store.id, name="renamed", metadata={"k": "v"})
    assert (updated.name, updated.metadata) == ("renamed", {"k": "v"})
    later = time.time() + 2 * 86_400
    monkeypatch.setattr(backend.vector_stores, "_clock", lambda: later)
    assert (await vs.vector_stores.retrieve(store.id)).status == "expired"
    with pytest.raises(openai.BadRequestError) as err:
        await vs.vector_stores.search(vector_store_id=store.id, query="anything")
    assert err.value.code == "vector_store_expired"
    kept = await vs.vector_stores.update(store.id, expires_after=None)
    assert (kept.status, kept.expires_at) == ("completed", None)


async def test_projects_are_isolated(vs: openai.AsyncOpenAI, backend: Services) -> None:
    from tests.conftest import new_project, sdk

    store = await vs.vector_stores.create(name="private")
    f = await upload(vs, store.id, "lighthouse.md")
    http = vs._client  # the same in-process transport
    async with sdk(http, new_project(backend, "Other")[1]) as other:  # type: ignore[arg-type]
        with pytest.raises(openai.NotFoundError):
            await other.vector_stores.retrieve(store.id)
        with pytest.raises(openai.NotFoundError):
            await other.vector_stores.search(vector_store_id=store.id, query="lamp")
        with pytest.raises(openai.NotFoundError):
            await other.vector_stores.files.list(vector_store_id=store.id)
        assert [s.id async for s in other.vector_stores.list()] == []
        mine = await other.vector_stores.create(name="theirs")
        with pytest.raises(openai.NotFoundError) as err:  # another project's file
            await other.vector_stores.files.create(vector_store_id=mine.id, file_id=f.id)
        assert err.value.body["param"] == "file_id"  # type: ignore[index]


async def test_bad_requests(vs: openai.AsyncOpenAI) -> None:
    store = await vs.vector_stores.create(name="checks")
    cases: list[tuple[dict[str, Any], str]] = [
        (
            {
                "chunking_strategy": {
                    "type": "static",
                    "static": {"max_chunk_size_tokens": 50, "chunk_overlap_tokens": 0},
                }
            },
            "chunking_strategy.static.max_chunk_size_tokens",
        ),
        (
            {
                "chunking_strategy": {
                    "type": "static",
                    "static": {"max_chunk_size_tokens": 200, "chunk_overlap_tokens": 150},
                }
            },
            "chunking_strategy.static",
        ),
        ({"expires_after": {"anchor": "created_at", "days": 1}}, "expires_after.anchor"),
        ({"file_ids": ["file-doesnotexist"]}, "file_ids[0]"),
    ]
    for body, param in cases:
        with pytest.raises((openai.BadRequestError, openai.NotFoundError)) as err:
            await vs.vector_stores.create(**body)
        assert err.value.body["param"] == param, body  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as err:
        await vs.vector_stores.search(
            vector_store_id=store.id,
            query="x",
            filters={"type": "like", "key": "a", "value": "b"},  # type: ignore[typeddict-item]
        )
    assert err.value.body["param"].startswith("filters")  # type: ignore[index]
    with pytest.raises(openai.BadRequestError):
        await vs.vector_stores.search(vector_store_id=store.id, query="x", max_num_results=51)
    with pytest.raises(openai.BadRequestError):
        await vs.vector_stores.files.create(
            vector_store_id=store.id, file_id="file-x", attributes={f"k{i}": i for i in range(17)}
        )
    with pytest.raises(openai.NotFoundError):
        await vs.vector_stores.file_batches.retrieve("vsfb_missing", vector_store_id=store.id)


async def test_a_50_mb_text_fails_alone(vs: openai.AsyncOpenAI, backend: Services) -> None:
    if backend.db.dialect.name != "sqlite":
        pytest.skip("the limit is the ingestion's, not the database's: one backend suffices")
    store = await vs.vector_stores.create(name="huge")
    ok = await upload(vs, store.id, "lighthouse.md")
    line = b"The keeper wrote the tide tables and trimmed the wick of the great lamp again.\n"
    huge = line * (50_000_000 // len(line))
    started = time.monotonic()
    big = await vs.vector_stores.files.upload_and_poll(
        vector_store_id=store.id, file=("huge.txt", huge), poll_interval_ms=200
    )
    assert big.status == "failed" and big.last_error is not None
    assert (big.last_error.code, "5000000 tokens" in big.last_error.message) == (
        "invalid_file",
        True,
    )
    assert time.monotonic() - started < 120
    store = await vs.vector_stores.retrieve(store.id)
    assert (store.file_counts.completed, store.file_counts.failed) == (1, 1)
    assert {h.file_id for h in await search(vs, store.id, "lamp relit")} == {ok.id}


async def test_cancelling_a_batch(vs: openai.AsyncOpenAI, backend: Services) -> None:
    store = await vs.vector_stores.create(name="cancel")
    words = [
        "keeper",
        "lamp",
        "tide",
        "gale",
        "stone",
        "tower",
        "signal",
        "ship",
        "rope",
        "chart",
        "bell",
        "night",
    ]
    body = "\n".join(" ".join(words[(i + j) % len(words)] for j in range(12)) for i in range(3000))
    ids = [
        (await vs.files.create(file=(f"log{i}.txt", body.encode()), purpose="assistants")).id
        for i in range(3)
    ]
    batch = await vs.vector_stores.file_batches.create(vector_store_id=store.id, file_ids=ids)
    assert batch.status == "in_progress" and batch.file_counts.in_progress == 3
    cancelled = await vs.vector_stores.file_batches.cancel(batch.id, vector_store_id=store.id)
    assert cancelled.status == "cancelled"
    assert cancelled.file_counts.cancelled + cancelled.file_counts.completed == 3
    assert cancelled.file_counts.cancelled >= 1
    listed = [
        f.status
        async for f in vs.vector_stores.file_batches.list_files(
            batch.id, vector_store_id=store.id, filter="cancelled"
        )
    ]
    assert len(listed) == cancelled.file_counts.cancelled
    await anyio.sleep(0.5)
    again = await vs.vector_stores.file_batches.retrieve(batch.id, vector_store_id=store.id)
    assert again.file_counts.cancelled == cancelled.file_counts.cancelled  # stays stopped
    assert (await vs.vector_stores.retrieve(store.id)).status == "completed"
