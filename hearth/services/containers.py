"""``client.containers`` and ``client.containers.files`` (OpenAI API reference:
Containers, Container Files), and ``execute``: the one way code runs in a container (the
Responses ``code_interpreter`` tool calls it).

A container is a row plus a sandbox (``hearth.sandbox.Sandboxes``: a kernel and an
in-memory ``/mnt/data``). Its ``status`` is ``running`` while the sandbox exists and
``expired`` once it has been idle ``expires_after.minutes`` since ``last_active_at``
(running code and adding, reading or deleting files keep it active), or after the server
that ran it stopped: the sandbox is destroyed, the file rows go with it, and running
code or touching files is a 400 (``container_expired``). An expired container still
answers ``retrieve``, ``list`` and ``delete``. A container's files are rows naming paths
in its sandbox (``/mnt/data/<name>``); their bytes are read from the sandbox.

Every object is the SDK's type, with every field set.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal, TypeVar

from openai.types import ContainerCreateResponse, ContainerListResponse, ContainerRetrieveResponse
from openai.types.containers import FileCreateResponse, FileListResponse, FileRetrieveResponse
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictStr,
    Tag,
    field_validator,
)

from hearth.domain import CursorPage, PageParams, Principal
from hearth.errors import InvalidRequest, NotFound
from hearth.jobs.bus import EventBus, MemoryBus
from hearth.sandbox import Execution, Sandboxes, SandboxFile
from hearth.services.container_hosts import HolderGone, Host, Hosts
from hearth.services.files import Files
from hearth.services.usage import UsageMeter
from hearth.store.containers import ContainerRepository
from hearth.store.models import Container, ContainerFile

log = logging.getLogger(__name__)

DEFAULT_MINUTES = 20
"""OpenAI's default ``expires_after.minutes``."""
MAX_MINUTES = 1440
"""Longest idle time a container may ask for (a day): an idle container holds memory."""

C = TypeVar("C", ContainerCreateResponse, ContainerRetrieveResponse, ContainerListResponse)
F = TypeVar("F", FileCreateResponse, FileRetrieveResponse, FileListResponse)
T = TypeVar("T")


# --- request bodies ---------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExpiresAfter(_Strict):
    """``expires_after``: ``{"anchor": "last_active_at", "minutes": 1..1440}``."""

    anchor: Literal["last_active_at"]
    minutes: int = Field(ge=1, le=MAX_MINUTES)


class NetworkDisabled(_Strict):
    type: Literal["disabled"]


class DomainSecret(_Strict):
    domain: StrictStr
    name: StrictStr
    value: StrictStr


class NetworkAllowlist(_Strict):
    """Accepted as OpenAI's shape, then refused: containers have no network here."""

    type: Literal["allowlist"]
    allowed_domains: list[StrictStr]
    domain_secrets: list[DomainSecret] | None = None


def _policy_tag(value: Any) -> str | None:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return (
        {"disabled": "Disabled", "allowlist": "Allowlist"}.get(kind)
        if isinstance(kind, str)
        else None
    )


# capitalised tags: hearth.errors.json_path leaves them out of the error's ``param``
NetworkPolicy = Annotated[
    Annotated[NetworkDisabled, Tag("Disabled")] | Annotated[NetworkAllowlist, Tag("Allowlist")],
    Discriminator(
        _policy_tag,
        custom_error_type="invalid_network_policy",
        custom_error_message="network_policy.type must be 'disabled' or 'allowlist'",
    ),
]


class CreateParams(_Strict):
    """``containers.create``. ``skills`` is accepted in any shape and refused when not
    empty (not offered)."""

    name: StrictStr = Field(max_length=1024)
    file_ids: list[StrictStr] | None = None
    expires_after: ExpiresAfter | None = None
    memory_limit: Literal["1g", "4g", "16g", "64g"] = "1g"
    network_policy: NetworkPolicy | None = None
    skills: list[Any] | None = None


class FileCreateParams(_Strict):
    """``containers.files.create`` as JSON: copy one of the project's files."""

    file_id: StrictStr


class UploadFields(_Strict):
    """The text fields of ``containers.files.create`` as multipart (besides ``file``)."""

    file_id: StrictStr | None = None

    @field_validator("file_id")
    @classmethod
    def _one_source(cls, value: str | None) -> str | None:
        if value is not None:
            raise ValueError("send either 'file' or 'file_id', not both")
        return value


@dataclass(frozen=True)
class Upload:
    """An uploaded file: the client's file name and its bytes."""

    filename: str
    data: bytes


# --- response objects the SDK has no type for -------------------------------------------


class ContainerDeleted(BaseModel):
    """``containers.delete``'s body (OpenAI's reference; the SDK returns None)."""

    id: str
    object: Literal["container.deleted"]
    deleted: bool


class ContainerFileDeleted(BaseModel):
    """``containers.files.delete``'s body (OpenAI's reference; the SDK returns None)."""

    id: str
    object: Literal["container.file.deleted"]
    deleted: bool


def _container_object(cls: type[C], row: Container, now: float) -> C:
    return cls.model_validate(
        {
            "id": row.id,
            "object": "container",
            "name": row.name,
            "created_at": row.created_at,
            "status": "expired" if _overdue(row, now) else row.status,
            "last_active_at": row.last_active_at,
            "expires_after": {"anchor": "last_active_at", "minutes": row.expires_after_minutes},
            "memory_limit": row.memory_limit,
            "network_policy": {"type": row.network_policy},
        }
    )


def _file_object(cls: type[F], row: ContainerFile) -> F:
    return cls.model_validate(
        {
            "id": row.id,
            "object": "container.file",
            "container_id": row.container_id,
            "created_at": row.created_at,
            "bytes": row.bytes,
            "path": row.path,
            "source": row.source,
        }
    )


def _overdue(row: Container, now: float) -> bool:
    return row.status == "running" and row.last_active_at + row.expires_after_minutes * 60 <= now


def _expired(container_id: str) -> InvalidRequest:
    return InvalidRequest(
        f"Container {container_id} has expired; create a new one.",
        param="container_id",
        code="container_expired",
    )


def _not_found(container_id: str) -> NotFound:
    return NotFound(f"No container found with id '{container_id}'.", param="container_id")


def _file_name(filename: str) -> str:
    """A bare file name for ``/mnt/data`` from a client's file name (its last part)."""
    name = PurePosixPath(filename.replace("\\", "/").replace("\0", "")).name
    return name if name not in ("", ".", "..") else "upload"


def _seen(files: builtins.list[SandboxFile]) -> builtins.list[tuple[str, int, float]]:
    return [(f.path, f.bytes, f.modified) for f in files]


class Containers:
    """Containers of the caller's project over ``Sandboxes``; ``start`` / ``stop`` run
    the loop that expires idle ones every ``idle_check_seconds``."""

    def __init__(
        self,
        repo: ContainerRepository,
        files: Files,
        sandboxes: Sandboxes,
        clock: Callable[[], float] = time.time,
        meter: UsageMeter | None = None,
        bus: EventBus | None = None,
    ) -> None:
        """``bus``: how other replicas' sandboxes are reached (``Hosts``); None: this
        process's bus alone."""
        self._repo = repo
        self._files = files
        self._meter = meter
        self.sandboxes = sandboxes
        self.hosts = Hosts(sandboxes, bus if bus is not None else MemoryBus(), self._lock)
        self._clock = clock
        self._locks: dict[str, asyncio.Lock] = {}
        self._expiring: asyncio.Task[None] | None = None

    def now(self) -> int:
        return int(self._clock())

    def _lock(self, container_id: str) -> asyncio.Lock:
        # one change at a time per container: a file sync after code runs must not see
        # an upload made meanwhile as the code's output
        return self._locks.setdefault(container_id, asyncio.Lock())

    # lifecycle

    def _host(self, container_id: str, replica: str | None) -> Host:
        return self.hosts.of(container_id, replica)

    async def _gone(self, container_id: str, replica: str | None) -> bool:
        """Whether the container's sandbox no longer exists (its holder stopped)."""
        try:
            return not await self._host(container_id, replica).exists()
        except HolderGone:
            return True

    async def start(self) -> None:
        """Mark containers whose sandboxes are gone as expired (those an earlier server
        left ``running``: their sandboxes died with it; another live replica's stay),
        then expire idle containers every ``idle_check_seconds``."""
        if self._expiring is not None:
            return
        running = await asyncio.to_thread(self._repo.running)
        gone = await asyncio.gather(*(self._gone(c, r) for c, r in running), return_exceptions=True)
        orphans = [c for (c, _), dead in zip(running, gone, strict=True) if dead is True]
        await asyncio.to_thread(self._repo.expire, orphans)
        self._expiring = asyncio.create_task(self._expire_loop(), name="containers-expiry")

    async def stop(self) -> None:
        """Stop the expiry loop (containers keep running until ``Sandboxes.close``)."""
        task, self._expiring = self._expiring, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _expire_loop(self) -> None:
        while True:
            await asyncio.sleep(self.sandboxes.settings.idle_check_seconds)
            try:
                await self.expire_idle()
            except Exception:  # e.g. the database is busy: try again at the next check
                log.exception("expiring idle containers failed")

    async def expire_idle(self, now: float | None = None) -> int:
        """Expire every running container of this replica idle past its
        ``expires_after`` at ``now`` (Unix s; default the clock): destroy its sandbox,
        mark it ``expired``; and idle ones whose holder has stopped. A container running
        code is left alone, and so is one a live replica holds (it expires its own). How
        many were expired."""
        at = int(self._clock() if now is None else now)
        expired = 0
        for container_id, replica in await asyncio.to_thread(self._repo.idle, at):
            lock = self._lock(container_id)
            if lock.locked():
                continue
            if replica not in (None, self.hosts.replica) and not await self._gone(
                container_id, replica
            ):
                continue
            async with lock:
                await self._expire(container_id, replica)
            expired += 1
        return expired

    async def _expire(self, container_id: str, replica: str | None) -> None:
        with contextlib.suppress(HolderGone):
            await self._host(container_id, replica).destroy()
        await asyncio.to_thread(self._repo.expire, [container_id])
        self._locks.pop(container_id, None)

    async def usable(self, caller: Principal, container_id: str) -> Container:
        """The caller's running container row, checked before using it (``NotFound``);
        400 ``container_expired`` if it has expired (one overdue, or whose sandbox is
        gone, is expired now)."""
        row = await asyncio.to_thread(self._row, caller, container_id)
        if row.status == "running" and (
            _overdue(row, self._clock()) or await self._gone(container_id, row.replica)
        ):
            await self._expire(container_id, row.replica)
            row.status = "expired"
        if row.status != "running":
            raise _expired(container_id)
        return row

    async def _held(self, container: Container, call: Awaitable[T]) -> T:
        """``call`` on the container's sandbox; if its holder stopped meanwhile, the
        container is expired and this is the 400 ``usable`` gives."""
        try:
            return await call
        except HolderGone:
            await self._expire(container.id, container.replica)
            raise _expired(container.id) from None

    def _row(self, caller: Principal, container_id: str) -> Container:
        row = self._repo.get(caller.project_id, container_id)
        if row is None:
            raise _not_found(container_id)
        return row

    # client.containers

    async def create(self, caller: Principal, params: CreateParams) -> ContainerCreateResponse:
        """A new ``running`` container with ``file_ids`` copied into ``/mnt/data`` under
        their file names (``source`` ``user``). 400 when code interpreter cannot run on
        this host (saying why), for ``skills`` or an ``allowlist`` network policy, or when
        the files do not fit its disk; ``NotFound`` (``file_ids[i]``) for a file the
        project does not have. Nothing is kept when it fails."""
        self.sandboxes.require()
        if params.skills:
            raise InvalidRequest(
                "Skills are not supported in containers on this server.",
                param="skills",
                code="unsupported_parameter",
            )
        if params.network_policy is not None and params.network_policy.type == "allowlist":
            raise InvalidRequest(
                "Outbound network access is not offered: containers on this server have no "
                "network. Use network_policy {'type': 'disabled'}.",
                param="network_policy.type",
                code="unsupported_value",
            )
        file_ids = params.file_ids or []
        for i, file_id in enumerate(file_ids):
            if not await asyncio.to_thread(self._files.exists, caller, file_id):
                raise NotFound(f"No file found with id '{file_id}'.", param=f"file_ids[{i}]")
        now = self.now()
        row = await asyncio.to_thread(
            self._repo.insert,
            caller.project_id,
            name=params.name,
            memory_limit=params.memory_limit,
            network_policy="disabled",
            expires_after_minutes=(
                params.expires_after.minutes if params.expires_after else DEFAULT_MINUTES
            ),
            created_at=now,
            last_active_at=now,
            replica=self.hosts.replica,
        )
        try:
            await self.sandboxes.create(row.id, self.sandboxes.limits(params.memory_limit))
            for i, file_id in enumerate(file_ids):
                obj, data = await self._files.read(
                    caller, file_id, purposes=None, param=f"file_ids[{i}]"
                )
                await self._put(row, obj.filename, data, "user")
        except BaseException:
            with contextlib.suppress(Exception):
                await self.sandboxes.destroy(row.id)
            await asyncio.to_thread(self._repo.delete, caller.project_id, row.id)
            raise
        if self._meter is not None:
            self._meter.record(caller, "code_interpreter_sessions", "code-interpreter", sessions=1)
        return _container_object(ContainerCreateResponse, row, self._clock())

    async def retrieve(self, caller: Principal, container_id: str) -> ContainerRetrieveResponse:
        """One container (``NotFound``); ``status`` ``running`` or ``expired``."""
        row = await asyncio.to_thread(self._row, caller, container_id)
        return _container_object(ContainerRetrieveResponse, row, self._clock())

    async def list(
        self, caller: Principal, page: PageParams, *, name: str | None = None
    ) -> CursorPage[ContainerListResponse]:
        """A page of the project's containers, only those called ``name`` when given."""
        found = await asyncio.to_thread(self._repo.page, caller.project_id, page, name=name)
        now = self._clock()
        return found.to(lambda r: _container_object(ContainerListResponse, r, now))

    async def delete(self, caller: Principal, container_id: str) -> ContainerDeleted:
        """Delete the container: its sandbox (kernel and files) and its rows; ``NotFound``
        then and afterwards."""
        row = await asyncio.to_thread(self._row, caller, container_id)
        async with self._lock(container_id):
            with contextlib.suppress(HolderGone):  # a stopped holder's sandbox is gone
                await self._host(container_id, row.replica).destroy()
            if not await asyncio.to_thread(self._repo.delete, caller.project_id, container_id):
                raise _not_found(container_id)
        self._locks.pop(container_id, None)
        return ContainerDeleted(id=container_id, object="container.deleted", deleted=True)

    # running code

    async def execute(
        self, caller: Principal, container_id: str, code: str, timeout: float | None = None
    ) -> tuple[Execution, builtins.list[FileRetrieveResponse]]:
        """Run ``code`` in the container's kernel (state carries over between calls; at
        most ``timeout`` seconds, default ``HEARTH_CODE_INTERPRETER_CALL_SECONDS``), then
        record its files: new ones as ``source`` ``assistant``, changed ones with their
        new size, deleted ones removed. The ``Execution`` and the new or changed files.
        ``NotFound``; 400 ``container_expired``."""
        row = await self.usable(caller, container_id)
        async with self._lock(container_id):
            await asyncio.to_thread(self._repo.touch, container_id, self.now())
            execution = await self._held(
                row, self._host(container_id, row.replica).run(code, timeout)
            )
            seen = _seen(execution.files)
            now = self.now()
            changed = await asyncio.to_thread(self._repo.sync_files, container_id, seen, now=now)
            await asyncio.to_thread(self._repo.touch, container_id, now)
        return execution, [_file_object(FileRetrieveResponse, r) for r in changed]

    # client.containers.files

    async def create_file(
        self, caller: Principal, container_id: str, source: FileCreateParams | Upload
    ) -> FileCreateResponse:
        """Put a file in ``/mnt/data`` under its file name (replacing one of that name):
        an ``Upload`` or a copy of one of the project's files (``NotFound`` ``file_id``).
        ``source`` ``user``. ``NotFound``; 400 ``container_expired``, or when the
        container's disk is full."""
        container = await self.usable(caller, container_id)
        if isinstance(source, Upload):
            filename, data = source.filename, source.data
        else:
            obj, data = await self._files.read(
                caller, source.file_id, purposes=None, param="file_id"
            )
            filename = obj.filename
        row = await self._put(container, filename, data, "user")
        return _file_object(FileCreateResponse, row)

    async def _put(
        self, container: Container, filename: str, data: bytes, source: str
    ) -> ContainerFile:
        container_id = container.id
        async with self._lock(container_id):
            host = self._host(container_id, container.replica)
            written = await self._held(container, host.write_file(_file_name(filename), data))
            now = self.now()
            row = await asyncio.to_thread(
                self._repo.put_file,
                container_id,
                (written.path, written.bytes, written.modified),
                source=source,
                now=now,
            )
            await asyncio.to_thread(self._repo.touch, container_id, now)
        return row

    async def list_files(
        self, caller: Principal, container_id: str, page: PageParams
    ) -> CursorPage[FileListResponse]:
        """A page of the container's files (none once it has expired)."""

        def rows() -> CursorPage[FileListResponse]:
            self._row(caller, container_id)
            found = self._repo.page_files(container_id, page)
            return found.to(lambda r: _file_object(FileListResponse, r))

        return await asyncio.to_thread(rows)

    async def retrieve_file(
        self, caller: Principal, container_id: str, file_id: str
    ) -> FileRetrieveResponse:
        """One file of the container (``NotFound`` for either)."""
        row = await asyncio.to_thread(self._file_row, caller, container_id, file_id)
        return _file_object(FileRetrieveResponse, row)

    def _file_row(self, caller: Principal, container_id: str, file_id: str) -> ContainerFile:
        self._row(caller, container_id)
        row = self._repo.get_file(container_id, file_id)
        if row is None:
            raise NotFound(
                f"No file found with id '{file_id}' in container '{container_id}'.",
                param="file_id",
            )
        return row

    async def file_content(self, caller: Principal, container_id: str, file_id: str) -> bytes:
        """The file's bytes as they are in the container now. ``NotFound`` (also when
        code removed the file since it was last seen); 400 ``container_expired``."""
        container = await self.usable(caller, container_id)
        row = await asyncio.to_thread(self._file_row, caller, container_id, file_id)
        host = self._host(container_id, container.replica)
        data = await self._held(container, host.read_file(row.path))
        await asyncio.to_thread(self._repo.touch, container_id, self.now())
        return data

    async def delete_file(
        self, caller: Principal, container_id: str, file_id: str
    ) -> ContainerFileDeleted:
        """Remove the file from ``/mnt/data`` and its row. ``NotFound``; 400
        ``container_expired``."""
        container = await self.usable(caller, container_id)
        async with self._lock(container_id):
            row = await asyncio.to_thread(self._file_row, caller, container_id, file_id)
            host = self._host(container_id, container.replica)
            await self._held(container, host.delete_file(row.path))
            await asyncio.to_thread(self._repo.delete_file, container_id, file_id)
            await asyncio.to_thread(self._repo.touch, container_id, self.now())
        return ContainerFileDeleted(id=file_id, object="container.file.deleted", deleted=True)
