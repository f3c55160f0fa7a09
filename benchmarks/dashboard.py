"""The web dashboard's first load and its Logs page, in headless Chromium.

Starts ``hearth serve`` (fresh temp data dir), then in Debian's Chromium (Playwright's
sync API, never its downloaded browsers), with a new browser context each time (cold
cache):

  1. ``first_load``: ``GET /`` and everything it pulls in: bytes over the wire (encoded,
     as sent: gzip), requests, and time to interactive: ``performance.now()`` (from the
     navigation's start) when the sign-in form's key field is on screen and enabled.
     Goals: <= 300 KB, <= 1 s on loopback.
  2. ``logs_first_rows``: with ``--stored`` (10,000) stored completions in the project
     (written as ``store: true`` writes them: one real completion's rows, copied with new
     ids, in one transaction), the time from opening ``#/logs`` to its first table row,
     measured in the page. Goal: <= 300 ms.

Prints one JSON document on stdout (progress on stderr); nothing asserts on timings.

Usage: .venv/bin/python benchmarks/dashboard.py [--stored 10000] [--loads 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import openai

sys.path.insert(0, str(Path(__file__).resolve().parent))

from serving import API_KEY, MODEL_ID, free_port, hearth_command, server  # noqa: E402

from hearth.store.api_keys import ApiKeyStore  # noqa: E402
from hearth.store.db import create_db_engine, session_factory  # noqa: E402
from hearth.store.models import StoredCompletion, next_seq  # noqa: E402

FIRST_ROWS = """async () => {
  const start = performance.now();
  location.hash = "#/logs";
  for (;;) {
    if (document.querySelector("table.logs-table tbody tr")) return performance.now() - start;
    await new Promise((resolve) => requestAnimationFrame(resolve));
  }
}"""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def store_completions(base: str, data_dir: Path, count: int) -> None:
    """``count`` stored completions: one real answer, its rows copied with new ids."""
    with openai.OpenAI(base_url=f"{base}/v1", api_key=API_KEY, max_retries=0) as client:
        request = {
            "model": MODEL_ID,
            "messages": [{"role": "user", "content": "Say one word about tea."}],
            "max_tokens": 8,
            "store": True,
            "metadata": {"bench": "dashboard"},
        }
        done = client.chat.completions.create(**request)  # type: ignore[call-overload]
    response = done.model_dump(mode="json", exclude_unset=True)
    sessions = session_factory(create_db_engine(f"sqlite:///{data_dir / 'hearth.db'}"))
    principal = ApiKeyStore(sessions).verify(API_KEY)
    assert principal is not None
    with sessions.begin() as session:
        session.add_all(
            StoredCompletion(
                id=f"{done.id}-{i}",
                project_id=principal.project_id,
                model=done.model,
                request=request,
                response={**response, "id": f"{done.id}-{i}"},
                metadata_={"bench": "dashboard", "i": str(i)},
                created_at=done.created,
                seq=next_seq(),
            )
            for i in range(count - 1)
        )


def first_load(browser: Any, base: str) -> dict[str, Any]:
    """One cold load of ``/``: bytes, requests and time to interactive."""
    context = browser.new_context()
    page = context.new_page()
    sent: list[int] = []
    page.on("requestfinished", lambda r: sent.append(_wire_bytes(r)))
    page.goto(f"{base}/")
    page.locator("#api-key:enabled").wait_for()
    interactive_ms = page.evaluate("performance.now()")
    page.wait_for_load_state("networkidle")
    context.close()
    return {"bytes": sum(sent), "requests": len(sent), "interactive_ms": round(interactive_ms, 1)}


def _wire_bytes(request: Any) -> int:
    sizes = request.sizes()
    return int(sizes["responseBodySize"] + sizes["responseHeadersSize"])


def logs_first_rows(browser: Any, base: str, loads: int) -> list[float]:
    """Sign in once, then open Logs ``loads`` times (leaving for Models between)."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{base}/")
    page.get_by_label("API key").fill(API_KEY)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("navigation", name="Pages").wait_for()
    times = []
    for _ in range(loads):
        page.evaluate("location.hash = '#/models'")
        page.get_by_role("heading", name="Models", exact=True).wait_for()
        times.append(round(page.evaluate(FIRST_ROWS), 1))
    context.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stored", type=int, default=10_000)
    parser.add_argument("--loads", type=int, default=5)
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("needs Debian's chromium")
    from playwright.sync_api import sync_playwright

    env = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")}
    env["HEARTH_LOG_LEVEL"] = "warning"
    with tempfile.TemporaryDirectory(prefix="hearth-dashboard-") as tmp:
        data_dir = Path(tmp) / "data"
        port = free_port()
        with server(
            hearth_command(port, data_dir), env, port, Path(tmp) / "serve.log", "/health"
        ) as running:
            base = running.base
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, headless=True)
                try:
                    log("cold loads of /")
                    loads = [first_load(browser, base) for _ in range(args.loads)]
                    log(f"storing {args.stored} completions")
                    store_completions(base, data_dir, args.stored)
                    log("Logs page, first rows")
                    rows = logs_first_rows(browser, base, args.loads)
                finally:
                    browser.close()
    shipped = Path(__file__).resolve().parent.parent / "hearth" / "web" / "dashboard"
    print(
        json.dumps(
            {
                "shipped_files": {p.name: p.stat().st_size for p in sorted(shipped.iterdir())},
                "first_load": {
                    "bytes_median": statistics.median(x["bytes"] for x in loads),
                    "interactive_ms_median": statistics.median(x["interactive_ms"] for x in loads),
                    "goals": {"bytes": 300_000, "interactive_ms": 1000},
                    "loads": loads,
                },
                "logs_first_rows": {
                    "stored_completions": args.stored,
                    "ms_median": statistics.median(rows),
                    "goal_ms": 300,
                    "ms": rows,
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
