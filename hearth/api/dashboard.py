"""Hearth's web dashboard (Hearth's own, not OpenAI's API): ``GET /`` serves the app's
page and ``GET /dashboard/{name}`` its built script and stylesheet, from
``hearth/web/dashboard`` (built from ``dashboard/`` by ``make dashboard``;
docs/dashboard.md). Static files, no auth: the app signs in with an API key that the
browser keeps in sessionStorage and sends to ``/v1`` itself. The app routes by the URL's
hash (``/#/logs``), so the server never answers any other path for it.
``HEARTH_DASHBOARD=false`` leaves this router out of the app (``create_app``)."""

from __future__ import annotations

import gzip
import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import Response

from hearth.errors import NotFound

router = APIRouter(include_in_schema=False)

ASSETS = Path(__file__).resolve().parent.parent / "web" / "dashboard"
"""The built app, shipped in the package (``pyproject.toml`` package data)."""

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src blob:; "
    "font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
"""Only the app's own files run, and it talks only to this server: an injected tag can
neither run inline script nor send a signed-in key elsewhere. Media plays only from
``blob:`` URLs (the playground's speech, fetched with the key, then played)."""

_MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".woff2": "font/woff2",
}
_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")
_GZIP_MIN_BYTES = 1024


@dataclass(frozen=True)
class Asset:
    """One built file, read once: its bytes, gzip-compressed bytes (``None`` when too
    small to gain), strong ``ETag`` and media type."""

    body: bytes
    gzipped: bytes | None
    etag: str
    media_type: str


@lru_cache(maxsize=64)
def _load(path: Path, mtime_ns: int, size: int) -> Asset:
    """``path`` as an Asset; cached by modification time and size, so a rebuild is
    served without a restart."""
    body = path.read_bytes()
    packed = gzip.compress(body, compresslevel=9, mtime=0) if size >= _GZIP_MIN_BYTES else None
    return Asset(
        body=body,
        gzipped=packed if packed is not None and len(packed) < size else None,
        etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"',
        media_type=_MEDIA_TYPES.get(path.suffix, "application/octet-stream"),
    )


def asset(name: str) -> Asset:
    """The built file ``name``. Raises ``NotFound`` (404) for a name that is not a plain
    file of the build (no path separators, no dot files) or when the app is not built."""
    path = ASSETS / name
    if not _NAME.match(name) or path.suffix not in _MEDIA_TYPES or not path.is_file():
        if not (ASSETS / "index.html").is_file():
            raise NotFound("The dashboard is not built: run `make dashboard`.")
        raise NotFound(f"No such file: /dashboard/{name}")
    stat = path.stat()
    return _load(path, stat.st_mtime_ns, stat.st_size)


def _respond(request: Request, found: Asset, cache: str) -> Response:
    headers = {
        "Cache-Control": cache,
        "ETag": found.etag,
        "Vary": "Accept-Encoding",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    }
    if request.headers.get("if-none-match") == found.etag:
        return Response(status_code=304, headers=headers)
    body = found.body
    if found.gzipped is not None and "gzip" in request.headers.get("accept-encoding", ""):
        body = found.gzipped
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type=found.media_type, headers=headers)


@router.get("/")
async def page(request: Request) -> Response:
    """The app's page (``index.html``); 404 when the app is not built."""
    return _respond(request, asset("index.html"), "no-cache")


@router.get("/dashboard/{name}")
async def file(request: Request, name: str) -> Response:
    """A built script or stylesheet. Names carry no content hash, so browsers revalidate
    (``no-cache`` + ``ETag``: a 304 costs one round trip). 404 for anything else,
    ``index.html`` included (it is served at ``/`` only)."""
    if name == "index.html":
        raise NotFound(f"No such file: /dashboard/{name}")
    return _respond(request, asset(name), "no-cache")
