"""Where a container's sandbox runs, seen from any replica.

A container's sandbox (its kernel process and ``/mnt/data``) lives on the replica that
created it, and the container's row names that replica (``Container.replica``: an id each
process draws when it starts). ``Hosts.of`` gives the operations on one container's
sandbox: on this replica directly (``Sandboxes``), or, when another replica holds it, as
requests over the event bus (``hearth.jobs.bus``):

- the signal ``sandbox:<replica>`` carries ``{"id", "op", "container", "args"}``;
- the holder answers on the topic ``sandbox:<request id>`` with ``{"result": ...}`` or
  ``{"error": {...}}`` (a ``HearthError``: its class name, message, param and code), so a
  400 or 404 from the holder is the same 400 or 404 here;
- bytes travel as base64.

A holder that does not answer within ``ANSWER_SECONDS`` (plus the call's own time limit)
has stopped, and its sandboxes with it: ``HolderGone``, on which ``Containers`` expires the
container, as a single server expires the containers an earlier process left. Without a
shared bus (one process, no Redis) another replica's sandbox is gone at once.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, Protocol

from hearth import errors
from hearth.errors import HearthError, InternalError, InvalidRequest, ServiceUnavailable
from hearth.jobs.bus import EventBus
from hearth.sandbox import Execution, Output, Sandboxes, SandboxFile
from hearth.sandbox.manager import INTERRUPT_GRACE_SECONDS

log = logging.getLogger(__name__)

ANSWER_SECONDS = 5.0
"""How long a holder may take to answer beyond the call's own time before it is asked
whether it still runs (no answer to that either: gone)."""

MAX_TRANSFER_BYTES = 16 << 20
"""The largest file sent to or read from another replica's sandbox: bytes travel inside
Redis messages, and Redis drops a Pub/Sub subscriber whose buffer passes 32 MB."""


class HolderGone(Exception):
    """The replica holding a sandbox did not answer: it stopped, and its sandboxes died
    with it."""


class Host(Protocol):
    """The operations on one container's sandbox (``Sandboxes``' own, for that id)."""

    async def exists(self) -> bool: ...

    async def run(self, code: str, timeout: float | None) -> Execution: ...

    async def write_file(self, name: str, data: bytes) -> SandboxFile: ...

    async def read_file(self, path: str) -> bytes: ...

    async def delete_file(self, path: str) -> None: ...

    async def destroy(self) -> None: ...


class _Local:
    """A sandbox on this replica."""

    def __init__(self, sandboxes: Sandboxes, container_id: str) -> None:
        self._sandboxes = sandboxes
        self._id = container_id

    async def exists(self) -> bool:
        return self._sandboxes.exists(self._id)

    async def run(self, code: str, timeout: float | None) -> Execution:
        return await self._sandboxes.run(self._id, code, timeout)

    async def write_file(self, name: str, data: bytes) -> SandboxFile:
        return await self._sandboxes.write_file(self._id, name, data)

    async def read_file(self, path: str) -> bytes:
        return await self._sandboxes.read_file(self._id, path)

    async def delete_file(self, path: str) -> None:
        await self._sandboxes.delete_file(self._id, path)

    async def destroy(self) -> None:
        await self._sandboxes.destroy(self._id)


class _Remote:
    """A sandbox another replica holds, reached through ``Hosts.call``."""

    def __init__(self, hosts: Hosts, replica: str, container_id: str) -> None:
        self._hosts = hosts
        self._replica = replica
        self._id = container_id

    async def _call(self, op: str, wait: float = 0.0, **args: Any) -> Any:
        return await self._hosts.call(self._replica, op, self._id, args, wait)

    async def exists(self) -> bool:
        return bool(await self._call("exists"))

    async def run(self, code: str, timeout: float | None) -> Execution:
        limit = self._hosts.sandboxes.settings.call_seconds if timeout is None else timeout
        wait = limit + INTERRUPT_GRACE_SECONDS
        answer = await self._call("run", wait, code=code, timeout=limit)
        return _execution(answer)

    async def write_file(self, name: str, data: bytes) -> SandboxFile:
        _check_size(len(data))
        answer = await self._call("write_file", name=name, data=_b64(data))
        return SandboxFile(**answer)

    async def read_file(self, path: str) -> bytes:
        return base64.b64decode(await self._call("read_file", path=path))

    async def delete_file(self, path: str) -> None:
        await self._call("delete_file", path=path)

    async def destroy(self) -> None:
        await self._call("destroy")


class Hosts:
    """This replica's sandboxes, and the way to the other replicas' (see module doc):
    ``replica`` is this process's id, recorded on the containers it creates."""

    def __init__(
        self,
        sandboxes: Sandboxes,
        bus: EventBus,
        lock: Callable[[str], asyncio.Lock] | None = None,
    ) -> None:
        """``lock(container_id)``: the lock this replica holds while changing a container
        (``Containers``'), held too while serving another replica's request for it."""
        self.sandboxes = sandboxes
        self._lock = lock
        self.replica = secrets.token_hex(8)
        self._bus = bus
        self._answering: set[asyncio.Task[None]] = set()
        bus.on_signal(f"sandbox:{self.replica}", self._serve)

    def of(self, container_id: str, replica: str | None) -> Host:
        """The sandbox of ``container_id``, held by ``replica`` (None: a row from before
        replicas were recorded, held by this process if by any)."""
        if replica is None or replica == self.replica:
            return _Local(self.sandboxes, container_id)
        return _Remote(self, replica, container_id)

    async def call(
        self, replica: str, op: str, container_id: str, args: dict[str, Any], wait: float
    ) -> Any:
        """Ask ``replica`` to do ``op`` on its sandbox of ``container_id``; its result,
        or its ``HearthError`` raised here. When no answer comes within ``wait +
        ANSWER_SECONDS``: ``ServiceUnavailable`` (503) if the holder still answers
        ``exists`` (it is busy), else ``HolderGone``."""
        if not self._bus.shared:
            raise HolderGone(replica)
        request = secrets.token_hex(12)
        answers = await self._bus.listen(f"sandbox:{request}")
        message = {"id": request, "op": op, "container": container_id, "args": args}
        try:
            await self._bus.signal(f"sandbox:{replica}", json.dumps(message))
            async with asyncio.timeout(wait + ANSWER_SECONDS):
                answer = await anext(answers)
        except (TimeoutError, StopAsyncIteration):
            if op != "exists" and await self._alive(replica, container_id):
                raise ServiceUnavailable(
                    f"The replica holding container {container_id} is busy; try again.",
                    code="container_busy",
                ) from None
            raise HolderGone(replica) from None
        finally:
            await answers.aclose()
        data = json.loads(answer)
        if "error" in data:
            raise _error(data["error"])
        return data["result"]

    async def _alive(self, replica: str, container_id: str) -> bool:
        try:
            await self.call(replica, "exists", container_id, {}, 0.0)
        except HolderGone:
            return False
        return True

    def _serve(self, payload: str) -> None:
        try:
            request = json.loads(payload)
            str(request["id"]), str(request["container"]), str(request["op"])
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed sandbox request: %.200s", payload)
            return
        task = asyncio.create_task(self._answer(request), name="sandbox-request")
        self._answering.add(task)
        task.add_done_callback(self._answering.discard)

    async def _answer(self, request: dict[str, Any]) -> None:
        topic = f"sandbox:{request['id']}"
        container_id = str(request["container"])
        try:
            host = _Local(self.sandboxes, container_id)
            args = request.get("args") or {}
            if request["op"] == "exists" or self._lock is None:
                result = await _perform(host, request["op"], args)
            else:  # one change at a time per container, whichever replica asks
                async with self._lock(container_id):
                    result = await _perform(host, request["op"], args)
            body: dict[str, Any] = {"result": result}
        except HearthError as exc:
            body = {"error": {"class": type(exc).__name__, **exc.to_dict()["error"]}}
        except Exception:
            log.exception("sandbox request %s failed", request.get("op"))
            body = {"error": {"class": "InternalError", "message": "The sandbox call failed."}}
        await self._bus.publish(topic, json.dumps(body))
        await self._bus.publish(topic, None)


async def _perform(host: _Local, op: str, args: dict[str, Any]) -> Any:
    if op == "exists":
        return await host.exists()
    if op == "run":
        done = await host.run(str(args["code"]), args.get("timeout"))
        return {
            "status": done.status,
            "error": done.error,
            "outputs": [{"type": o.type, "logs": o.logs, "png": _b64(o.png)} for o in done.outputs],
            "files": [asdict(f) for f in done.files],
        }
    if op == "write_file":
        written = await host.write_file(str(args["name"]), base64.b64decode(args["data"]))
        return asdict(written)
    if op == "read_file":
        data = await host.read_file(str(args["path"]))
        _check_size(len(data))
        return _b64(data)
    if op == "delete_file":
        await host.delete_file(str(args["path"]))
        return None
    if op == "destroy":
        await host.destroy()
        return None
    raise InternalError(f"Unknown sandbox operation {op!r}.")


def _check_size(size: int) -> None:
    if size > MAX_TRANSFER_BYTES:
        raise InvalidRequest(
            f"Files over {MAX_TRANSFER_BYTES >> 20} MB are moved only through the replica "
            "that holds the container.",
            param="file",
            code="file_too_large",
        )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _execution(answer: dict[str, Any]) -> Execution:
    return Execution(
        status=answer["status"],
        error=answer["error"],
        outputs=[
            Output(type=o["type"], logs=o["logs"], png=base64.b64decode(o["png"]))
            for o in answer["outputs"]
        ],
        files=[SandboxFile(**f) for f in answer["files"]],
    )


def _error(fields: dict[str, Any]) -> HearthError:
    """The holder's error as the same ``HearthError`` class (``InternalError`` if unknown)."""
    cls = getattr(errors, str(fields.get("class")), None)
    if not (isinstance(cls, type) and issubclass(cls, HearthError)):
        cls = InternalError
    error = cls.__new__(cls)
    HearthError.__init__(
        error, str(fields.get("message")), param=fields.get("param"), code=fields.get("code")
    )
    return error
