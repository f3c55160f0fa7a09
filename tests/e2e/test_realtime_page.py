"""End to end: the Realtime demo page (``GET /realtime``) in headless Chromium, whose fake
microphone speaks a question synthesized by Hearth's own TTS, against a real
``hearth serve``: one spoken turn through ``/v1/realtime``, answered with audio.

Needs Debian's ``chromium`` and the ``playwright`` package (never its downloaded
browsers); without them the test skips, or fails when ``HEARTH_REQUIRE_CHROMIUM=1`` (CI).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import time
import wave
from collections import Counter
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest

from tests.e2e.conftest import Server

pytestmark = pytest.mark.e2e

QUESTION = "What time is it right now?"
LEAD_S, TRAIL_S = 0.5, 2.0  # silence around the question; the trail lets server VAD end it
TURN_TIMEOUT_S = 90

# the page's progress, polled until one full turn is done or something failed
TURN_DONE = """() => {
  const d = window.hearthDemo;
  return d.errors.length > 0 || d.state === "error" || d.state === "closed" ||
    (d.userTranscripts.length > 0 && d.assistantTranscripts.length > 0 &&
     d.responses.some((r) => r.audioBytes > 0));
}"""
SUMMARY = """() => {
  const d = window.hearthDemo;
  return {state: d.state, events: d.events, userTranscripts: d.userTranscripts,
          assistantTranscripts: d.assistantTranscripts, audioBytes: d.audioBytes,
          errors: d.errors, toolCalls: d.toolCalls, responses: d.responses,
          status: document.getElementById("status").textContent,
          dom: Object.assign({}, document.getElementById("demo").dataset)};
}"""


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's Chromium, with playwright importable; skip (or fail in CI) otherwise,
    before the server starts."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        path = None
    if path is None:
        message = "needs Debian's chromium and the playwright package"
        if os.environ.get("HEARTH_REQUIRE_CHROMIUM") == "1":
            pytest.fail(message + " (HEARTH_REQUIRE_CHROMIUM=1)")
        pytest.skip(message)
    return path


def fake_microphone(client: openai.OpenAI, path: Path) -> float:
    """Write the spoken question between two silences as mono 16-bit PCM WAV for
    Chromium's fake capture device; return the speech's length in seconds."""
    spoken = client.audio.speech.create(
        model="tts-1", voice="alloy", input=QUESTION, response_format="wav"
    ).content
    with wave.open(io.BytesIO(spoken)) as src:
        assert (src.getnchannels(), src.getsampwidth()) == (1, 2)
        rate = src.getframerate()
        speech = src.readframes(src.getnframes())
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(2 * int(rate * LEAD_S)) + speech + bytes(2 * int(rate * TRAIL_S)))
    return len(speech) / 2 / rate


def test_demo_page_and_scripts_are_served(server: Server) -> None:
    page = httpx2.get(f"{server.url}/realtime")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'src="realtime/app.js"' in page.text
    for name in ("app.js", "mic-worklet.js"):
        r = httpx2.get(f"{server.url}/realtime/{name}")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/javascript")
    for name in ("index.html", "__init__.py", "missing.js", "..%2F..%2Fapp.py"):
        r = httpx2.get(f"{server.url}/realtime/{name}")
        assert r.status_code == 404, name
        assert r.json()["error"]["type"] == "invalid_request_error"


def test_one_spoken_turn_in_chromium(
    chromium: str, server: Server, sync_client: openai.OpenAI, tmp_path: Path
) -> None:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    mic = tmp_path / "question.wav"
    speech_s = fake_microphone(sync_client, mic)
    assert speech_s > 0.8
    console: list[str] = []
    started = time.monotonic()
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium,
            headless=True,
            args=[
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-audio-capture={mic}%noloop",
                "--autoplay-policy=no-user-gesture-required",
            ],
        )
        try:
            page = browser.new_page()
            page.on("console", lambda m: m.type == "error" and console.append(m.text))
            page.on("pageerror", lambda e: console.append(f"uncaught: {e}"))
            page.goto(f"{server.url}/realtime")
            assert page.evaluate("window.hearthDemo.state") == "idle"
            page.click("#start")
            with contextlib.suppress(PlaywrightError):  # reported below with what it saw
                page.wait_for_function(TURN_DONE, timeout=TURN_TIMEOUT_S * 1000, polling=250)
            demo: dict[str, Any] = page.evaluate(SUMMARY)
            page.click("#stop")
            stopped = page.evaluate("window.hearthDemo.state")
        finally:
            browser.close()
    took = time.monotonic() - started

    seen = Counter(demo["events"])
    report = json.dumps(
        {**demo, "events": dict(seen), "console": console, "took_s": round(took, 1)}, indent=1
    )
    assert demo["errors"] == [] and "error" not in seen, report
    assert console == [], report
    assert demo["userTranscripts"], f"no user transcript within {TURN_TIMEOUT_S} s: {report}"
    assert "time" in demo["userTranscripts"][0].lower(), report
    assert demo["assistantTranscripts"] and demo["assistantTranscripts"][-1].strip(), report
    spoken = [r for r in demo["responses"] if r["audioBytes"] > 0]
    # the page caps answers (max_output_tokens): a long one ends "incomplete"
    assert spoken and spoken[0]["status"] in ("completed", "incomplete"), report
    assert spoken[0]["audioBytes"] % 2 == 0 and spoken[0]["audioBytes"] >= 9_600, report  # 0.2 s
    events = demo["events"]
    assert events[0] == "session.created", report
    assert (
        events.index("input_audio_buffer.speech_started")
        < events.index("input_audio_buffer.committed")
        < events.index("response.created")
    ), report
    for call in demo["toolCalls"]:  # a tool call is answered by a follow-up response
        assert call["name"] == "get_time" and "time" in call["output"], report
    if demo["toolCalls"]:
        assert seen["response.done"] >= 2, report
    # the page mirrors its progress in the DOM
    assert int(demo["dom"]["audioBytes"]) == demo["audioBytes"], report
    assert int(demo["dom"]["userTranscripts"]) == len(demo["userTranscripts"]), report
    assert stopped == "idle"
