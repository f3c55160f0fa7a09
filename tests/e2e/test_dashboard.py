"""End to end: Hearth's web dashboard (``GET /``) in headless Chromium against a real
``hearth serve``: the shipped build is current, the server serves it without shadowing
the API, and one signed-in page goes through sign in, a streamed chat, a structured
output, logprobs by mouse and keyboard, a spoken message (Chromium's fake microphone plays
speech Hearth made) transcribed into the message box and an answer played back, two
panes compared (and their code), Logs (a stored completion, distilled into a file and
evaluated; a stored response), Files, Models, Fine-tuning (a job followed until it
succeeds, its model opened in the playground), Evals, and with the admin key API keys (a
read-only key made through a service account, a rate limit changed), Usage (every kind)
and every page at phone width. Each page is screenshotted into ``build/artefacts/dashboard``
(its path is printed) and checked with axe-core: a serious or critical violation fails.

Needs Debian's ``chromium``, the ``playwright`` package (never its downloaded browsers),
``npm`` and the dashboard's npm packages (``make install-test``); without them the tests
skip, or fail when ``HEARTH_REQUIRE_CHROMIUM=1`` (CI).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx2
import openai
import pytest

from tests.conftest import ADMIN_KEY, API_KEY, MODEL
from tests.e2e.conftest import Server, start_server, stop_server

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "dashboard"
SHIPPED = ROOT / "hearth" / "web" / "dashboard"
AXE = SOURCE / "node_modules" / "axe-core" / "axe.min.js"
TIMEOUT_MS = 60_000
SPOKEN = "The quick brown fox jumps over the lazy dog."
"""What the fake microphone says (Hearth's own speech, made before the browser starts)."""
PHONE = {"width": 390, "height": 844}
SHARED: dict[str, str] = {}
"""What one test leaves for a later one (the tests share one signed-in page, in order)."""
AXE_RUN = """async () => {
  const r = await axe.run(document, {resultTypes: ["violations"]});
  return r.violations.map((v) => ({id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" "))}));
}"""


def missing(message: str) -> None:
    """Skip, or fail in CI (``HEARTH_REQUIRE_CHROMIUM=1``)."""
    if os.environ.get("HEARTH_REQUIRE_CHROMIUM") == "1":
        pytest.fail(message + " (HEARTH_REQUIRE_CHROMIUM=1)")
    pytest.skip(message)


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's Chromium, with playwright importable and axe-core installed; skip (or fail
    in CI) otherwise, before the server starts."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        path = None
    if path is None:
        missing("needs Debian's chromium and the playwright package")
    if not AXE.is_file():
        missing(f"needs {AXE.relative_to(ROOT)} (make install-test)")
    assert path is not None
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``hearth serve`` with a project key and an admin key (for API keys and Usage)."""
    srv = start_server(
        tmp_path_factory.mktemp("dashboard") / "data",
        "--api-key",
        API_KEY,
        "--admin-key",
        ADMIN_KEY,
    )
    yield srv
    stop_server(srv)


@pytest.fixture
def admin(server: Server) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=f"{server.url}/v1", api_key=API_KEY, admin_api_key=ADMIN_KEY, max_retries=0
    ) as c:
        yield c


@pytest.fixture(scope="module")
def artefacts() -> Path:
    # kept after the run (the suite's temporary folders are removed when it passes)
    path = ROOT / "build" / "artefacts" / "dashboard"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    print(f"\ndashboard screenshots: {path}")
    return path


def test_shipped_build_is_current(tmp_path: Path) -> None:
    """``vite build`` from the sources and the lockfile gives the shipped files, byte for
    byte (``make dashboard`` rebuilds them)."""
    npm = shutil.which("npm")
    if npm is None:
        missing("needs npm to rebuild the dashboard")
    if not (SOURCE / "node_modules" / ".bin" / "vite").exists():
        missing("needs the dashboard's npm packages (make install-test)")
    assert npm is not None
    out = tmp_path / "build"
    done = subprocess.run(
        [npm, "run", "--silent", "vite-build", "--", "--outDir", str(out), "--emptyOutDir"],
        cwd=SOURCE,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    built = {p.name: p.read_bytes() for p in out.iterdir()}
    shipped = {p.name: p.read_bytes() for p in SHIPPED.iterdir() if p.is_file()}
    assert set(built) == set(shipped), "run `make dashboard` and commit hearth/web/dashboard"
    stale = [name for name in built if built[name] != shipped[name]]
    assert not stale, f"stale {stale}: run `make dashboard` and commit hearth/web/dashboard"


def test_served_without_auth_beside_the_api(server: Server) -> None:
    page = httpx2.get(f"{server.url}/", headers={"Accept-Encoding": "gzip"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp
    assert 'src="/dashboard/app.js"' in page.text
    script = httpx2.get(f"{server.url}/dashboard/app.js", headers={"Accept-Encoding": "gzip"})
    assert script.status_code == 200 and script.headers["content-encoding"] == "gzip"
    assert script.headers["content-type"].startswith("text/javascript")
    again = httpx2.get(
        f"{server.url}/dashboard/app.js", headers={"If-None-Match": script.headers["etag"]}
    )
    assert again.status_code == 304
    for path in ("/dashboard/index.html", "/dashboard/missing.js", "/dashboard/..%2Fapp.py"):
        r = httpx2.get(f"{server.url}{path}")
        assert r.status_code == 404, path
        assert r.json()["error"]["type"] == "invalid_request_error"
    # the API around it is untouched
    assert httpx2.get(f"{server.url}/v1/models").status_code == 401
    assert httpx2.get(f"{server.url}/health").status_code == 200
    assert httpx2.get(f"{server.url}/realtime").status_code == 200


@pytest.fixture(scope="module")
def speech(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``SPOKEN`` as a WAV file made by the server's own speech model, for Chromium's fake
    microphone."""
    path = tmp_path_factory.mktemp("speech") / "spoken.wav"
    with openai.OpenAI(base_url=f"{server.url}/v1", api_key=API_KEY, max_retries=0) as c:
        made = c.audio.speech.create(
            model="tts-1", voice="alloy", input=SPOKEN, response_format="wav"
        )
        path.write_bytes(made.content)
    return path


@pytest.fixture(scope="module")
def page(chromium: str, server: Server, artefacts: Path, speech: Path) -> Iterator[Page]:
    """One browser and one page for the whole module, with axe-core injected into every
    document (by the browser, so the app's Content-Security-Policy stays on), and a fake
    microphone that says ``SPOKEN`` (granted without a prompt)."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium,
            headless=True,
            args=[
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-audio-capture={speech}",
                "--autoplay-policy=no-user-gesture-required",
            ],
        )
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.grant_permissions(["microphone"], origin=server.url)
            context.add_init_script(path=str(AXE))
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            page.on("console", lambda m: console_error(errors, m.type, m.text))
            page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
            page.goto(f"{server.url}/")
            yield page
            assert errors == [], errors
        finally:
            browser.close()


def console_error(errors: list[str], kind: str, text: str) -> None:
    # the wrong key's 401 (and other refusals the pages show) are logged by Chromium as
    # failed resources: not errors of the app
    if kind == "error" and "Failed to load resource" not in text:
        errors.append(text)


def check(page: Page, artefacts: Path, name: str) -> None:
    """Screenshot the page and fail on serious or critical axe-core violations."""
    page.screenshot(path=str(artefacts / f"{name}.png"), full_page=True)
    violations: list[dict[str, Any]] = page.evaluate(AXE_RUN)
    bad = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert bad == [], json.dumps(bad, indent=1)


def test_sign_in(page: Page, artefacts: Path) -> None:
    page.get_by_label("API key").fill("sk-hearth-wrong")
    page.get_by_role("button", name="Sign in").click()
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "api key" in alert.inner_text().lower()
    check(page, artefacts, "sign-in")
    # a wrong admin key is refused with the server's message, naming which key
    page.get_by_label("API key").fill(API_KEY)
    page.get_by_label("Admin key (optional)").fill("sk-admin-wrong")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("alert").filter(has_text="Admin key:").wait_for()
    page.get_by_label("Admin key (optional)").fill(ADMIN_KEY)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("navigation", name="Pages").wait_for()
    assert page.evaluate("sessionStorage.getItem('hearth.apiKey')") == API_KEY
    assert page.evaluate("sessionStorage.getItem('hearth.adminKey')") == ADMIN_KEY
    assert API_KEY not in page.url and ADMIN_KEY not in page.url
    # keyboard: the first Tab reaches the skip link
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"


def send(page: Page, text: str) -> str:
    """Send ``text`` in the playground; the last assistant turn's text once it ended."""
    page.get_by_label("Message", exact=True).fill(text)
    page.get_by_role("button", name="Send").click()
    turn = page.locator(".turn.assistant").last
    turn.locator(".meta").wait_for()
    assert turn.locator(".error").count() == 0, turn.inner_text()
    return str(turn.locator(".content").inner_text())


def test_playground_streams_a_chat_with_logprobs(page: Page, artefacts: Path) -> None:
    page.goto(page.url.split("#")[0] + "#/playground")
    page.get_by_label("Model", exact=True).select_option(MODEL)
    page.get_by_label("Max tokens", exact=True).fill("12")
    page.get_by_label("Seed", exact=True).fill("7")
    page.get_by_label("Logprobs", exact=True).check()
    assert page.get_by_label("Stream", exact=True).is_checked()
    reply = send(page, "Say hello.")
    assert reply.strip()
    token = page.locator(".turn.assistant .tok").first
    token.hover()
    tip = page.get_by_role("tooltip")
    assert "logprob" in tip.inner_text()
    page.mouse.move(0, 0)
    tip.wait_for(state="detached")
    # keyboard: Tab from the Logprobs checkbox reaches the first token, which shows the
    # same tooltip and points at it
    page.get_by_label("Logprobs", exact=True).focus()
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('tok')"):
            break
    focused = page.locator(".tok:focus")
    assert focused.count() == 1, "Tab never reached a token"
    tip_id = focused.get_attribute("aria-describedby")
    assert tip_id and "logprob" in page.locator(f"[id='{tip_id}']").inner_text()
    assert page.get_by_role("tooltip").count() == 1
    page.keyboard.press("Escape")
    assert page.get_by_role("tooltip").count() == 0
    # the streamed response's x-ratelimit-* headers
    limits = page.get_by_test_id("rate-limits").inner_text()
    assert "requests left" in limits and "tokens left" in limits and "resets in" in limits
    page.get_by_role("button", name="View code").click()
    code = page.get_by_label("python code").inner_text()
    assert "client.chat.completions.create(" in code and "stream=True" in code
    assert API_KEY not in code
    page.get_by_role("tab", name="curl").click()
    assert "/v1/chat/completions" in page.get_by_label("curl code").inner_text()
    check(page, artefacts, "playground")
    # phone width: nothing wider than the screen
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=str(artefacts / "playground-phone.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_role("button", name="Clear conversation").click()


def test_playground_audio_in_and_out(page: Page, artefacts: Path) -> None:
    """The microphone (Chromium's fake one, saying ``SPOKEN``) is recorded, transcribed by
    the server and lands in the message box; an answer's Play speaks it in an <audio>."""
    box = page.get_by_label("Message", exact=True)
    box.fill("")
    page.get_by_role("button", name="Record", exact=True).click()
    page.get_by_role("button", name="Stop recording").wait_for()
    page.wait_for_timeout(3500)  # the sentence is about 3 s long
    page.get_by_role("button", name="Stop recording").click()
    page.wait_for_function(
        "() => document.querySelector('.composer textarea').value.trim().length > 0",
        timeout=120_000,
    )
    heard = set(re.findall(r"[a-z]+", box.input_value().lower()))
    assert len(heard & {"quick", "brown", "fox", "jumps", "lazy", "dog"}) >= 2, heard
    page.get_by_label("Max tokens", exact=True).fill("12")
    page.get_by_label("Logprobs", exact=True).uncheck()
    page.get_by_role("button", name="Send").click()
    turn = page.locator(".turn.assistant").last
    turn.locator(".meta").wait_for()
    with page.expect_response(lambda r: r.url.endswith("/v1/audio/speech")) as spoken:
        turn.get_by_role("button", name=re.compile(r"^Play message")).click()
    assert spoken.value.status == 200
    assert spoken.value.headers["content-type"].startswith("audio/")
    turn.locator("audio").wait_for()
    page.wait_for_function(
        "() => { const a = document.querySelector('.turn.assistant:last-child audio');"
        " return a && a.readyState >= 1 && a.duration > 0; }"
    )
    check(page, artefacts, "playground-audio")
    page.get_by_role("button", name="Clear conversation").click()
    page.get_by_label("Logprobs", exact=True).check()


def test_playground_structured_output(page: Page, artefacts: Path) -> None:
    page.get_by_label("Logprobs", exact=True).uncheck()
    page.get_by_label("Response format", exact=True).select_option("json_schema")
    schema = page.get_by_label("JSON schema", exact=True)
    schema.fill('{"type": "array"}')
    assert "must describe an object" in page.get_by_role("alert").first.inner_text()
    # an object schema the server refuses: its 400 is shown in the reply's place
    schema.fill('{"type": "object", "properties": {"a": {"type": "nonsense"}}}')
    page.get_by_label("Message", exact=True).fill("Hi")
    page.get_by_role("button", name="Send").click()
    refused = page.locator(".turn.assistant .error").last
    refused.wait_for()
    assert "Invalid schema for response_format" in refused.inner_text()
    page.get_by_role("button", name="Clear conversation").click()
    schema.fill(
        json.dumps(
            {
                "type": "object",
                "properties": {"mood": {"type": "string", "enum": ["happy", "sad"]}},
                "required": ["mood"],
                "additionalProperties": False,
            }
        )
    )
    page.get_by_label("Max tokens", exact=True).fill("20")
    answer = json.loads(send(page, "How do you feel?"))
    assert answer["mood"] in ("happy", "sad")
    check(page, artefacts, "playground-structured")
    page.get_by_label("Response format", exact=True).select_option("text")
    page.get_by_role("button", name="Clear conversation").click()


def test_playground_compare_and_generate(page: Page, artefacts: Path) -> None:
    page.get_by_label("Compare side by side").check()
    for pane in ("A", "B"):
        page.get_by_label(f"Max tokens ({pane})").fill("6")
    page.get_by_label("Temperature (B)").fill("0")
    page.get_by_label("Message", exact=True).fill("Name a fruit.")
    page.get_by_role("button", name="Send").click()
    for n in range(2):
        page.locator(".pane").nth(n).locator(".turn.assistant .meta").wait_for()
    assert page.locator(".pane .turn.assistant .error").count() == 0
    # View code: each pane's next request, its own settings and conversation
    view = page.get_by_role("button", name="View code")
    if view.get_attribute("aria-expanded") != "true":  # still open from the first chat
        view.click()
    page.get_by_role("tab", name="Python").click()
    code = {pane: page.get_by_label(f"python code ({pane})").inner_text() for pane in "AB"}
    assert all("Name a fruit." in c and "max_tokens=6" in c for c in code.values())
    assert "temperature=0" in code["B"] and "temperature" not in code["A"]
    page.get_by_role("tab", name="Node.js").click()
    assert '"temperature": 0' in page.get_by_label("node code (B)").inner_text()
    check(page, artefacts, "playground-compare")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.set_viewport_size({"width": 1280, "height": 900})
    view.click()
    assert view.get_attribute("aria-expanded") == "false"
    page.get_by_role("button", name="Clear conversation").click()
    page.get_by_label("Compare side by side").uncheck()
    # a served model writes the system message through structured outputs; editable
    page.get_by_role("button", name="Generate system message…").click()
    page.get_by_label("Describe the task").fill("Answer questions about cooking pasta.")
    page.get_by_role("button", name="Generate", exact=True).click()
    result = page.get_by_label("Result (edit before use)")
    result.wait_for()
    result.fill(result.input_value() + " Be brief.")
    page.get_by_role("button", name="Use it").click()
    assert page.get_by_label("System message").input_value().endswith(" Be brief.")
    page.get_by_label("System message").fill("")


def test_logs_distill_and_evaluate(page: Page, artefacts: Path, sync_client: openai.OpenAI) -> None:
    ids = []
    for n in range(2):
        out = sync_client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": f"Name a color ({n})."}],
            max_tokens=6,
            seed=n,
            store=True,
            metadata={"suite": "dashboard"},
        )
        answer = out.choices[0].message.content or ""
        # the first one's expected answer is its own: one pass, one fail
        sync_client.chat.completions.update(
            out.id, metadata={"suite": "dashboard", "expected": answer if n == 0 else "-"}
        )
        ids.append(out.id)
    page.goto(page.url.split("#")[0] + "#/logs")
    page.get_by_label("Metadata filter").fill("suite=dashboard")
    page.get_by_role("button", name="Apply filters").click()
    for completion_id in ids:
        page.get_by_role("link", name=completion_id).wait_for()
    check(page, artefacts, "logs")

    page.get_by_role("link", name=ids[0]).click()
    page.get_by_text("Name a color (0).").wait_for()
    check(page, artefacts, "log-detail")
    page.go_back()
    assert page.get_by_label("Metadata filter").input_value() == "suite=dashboard"  # kept

    for completion_id in ids:
        page.get_by_label(f"Select {completion_id}").check()
    page.get_by_role("button", name="Distill…").click()
    page.get_by_role("button", name="Create training file").click()
    uploaded = page.get_by_role("status").filter(has_text="Uploaded")
    uploaded.wait_for()
    file_id = uploaded.locator("code").inner_text()
    lines = sync_client.files.content(file_id).text.strip().splitlines()
    assert len(lines) == 2 and json.loads(lines[0])["messages"][-1]["role"] == "assistant"
    page.get_by_role("button", name="Close").click()

    page.get_by_role("button", name="Evaluate…").click()
    page.get_by_label("Criterion 1 (JSON)").fill(
        json.dumps(
            {
                "type": "string_check",
                "name": "Matches",
                "input": "{{sample.output_text}}",
                "operation": "eq",
                "reference": "{{item.metadata.expected}}",
            }
        )
    )
    page.get_by_role("button", name="Create eval and run").click()
    counts = page.get_by_test_id("run-counts")
    counts.filter(has_text="1 passed, 1 failed").wait_for()
    table = page.locator("table.results tbody tr")
    assert table.count() == 2
    assert {"pass", "fail"} <= {table.nth(i).locator(".badge").inner_text() for i in range(2)}
    check(page, artefacts, "eval-run")
    SHARED["training_file"] = file_id


def test_logs_stored_responses(page: Page, artefacts: Path, sync_client: openai.OpenAI) -> None:
    """A response stored through the SDK is listed under Responses (filtered by its
    metadata, the server's list), and its page shows its input, output and usage."""
    made = sync_client.responses.create(
        model=MODEL,
        input="Name a planet.",
        max_output_tokens=16,
        metadata={"suite": "dashboard-responses"},
    )
    here = page.url
    page.goto(page.url.split("#")[0] + "#/logs")
    page.get_by_role("link", name="Responses", exact=True).click()
    page.get_by_label("Metadata filter").fill("suite=dashboard-responses")
    page.get_by_role("button", name="Apply filters").click()
    page.get_by_role("link", name=made.id).wait_for()
    assert page.locator(".logs-table tbody tr").count() == 1
    check(page, artefacts, "logs-responses")
    page.get_by_role("link", name=made.id).click()
    page.get_by_text("Name a planet.").wait_for()
    usage = made.usage
    assert usage is not None
    page.get_by_text(f"{usage.input_tokens} input + {usage.output_tokens} output").wait_for()
    if made.output_text.strip():
        page.get_by_text(made.output_text.strip()[:20]).first.wait_for()
    check(page, artefacts, "log-response-detail")
    page.goto(here)


def test_evals_list_and_compare(page: Page, artefacts: Path) -> None:
    page.get_by_role("link", name="← The eval's runs").click()
    page.get_by_role("button", name="Start run").click()
    page.get_by_role("button", name="Start", exact=True).click()
    # the new run (one row typed in the form) is graded against the same criteria
    page.locator("table tbody tr").nth(1).wait_for()
    page.locator("table tbody tr").first.locator(".badge", has_text="completed").wait_for()
    boxes = page.get_by_role("checkbox", name="to compare")
    boxes.nth(0).check()
    boxes.nth(1).check()
    page.get_by_role("button", name="Compare 2 runs").click()
    compared = page.get_by_role("region", name="Two runs compared")
    compared.wait_for()
    # both runs graded the eval's stored completions: the two the Logs filter selected
    assert compared.locator("tbody tr").count() == 2
    check(page, artefacts, "eval-compare")
    page.goto(page.url.split("#")[0] + "#/evals")
    page.get_by_role("link", name="Logs eval (2 completions)").first.wait_for()
    check(page, artefacts, "evals")


def test_files_upload_and_delete(page: Page, artefacts: Path, tmp_path: Path) -> None:
    page.goto(page.url.split("#")[0] + "#/files")
    notes = tmp_path / "notes.jsonl"
    notes.write_text('{"a": 1}\n')
    page.get_by_label("File to upload").set_input_files(notes)
    page.get_by_label("Upload purpose").select_option("user_data")
    page.get_by_role("button", name="Upload", exact=True).click()
    page.get_by_role("status").filter(has_text="Uploaded").wait_for()
    page.get_by_role("cell", name="notes.jsonl", exact=True).wait_for()
    check(page, artefacts, "files")
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Delete notes.jsonl").click()
    page.get_by_role("cell", name="notes.jsonl", exact=True).wait_for(state="detached")


def test_models(page: Page, artefacts: Path) -> None:
    page.goto(page.url.split("#")[0] + "#/models")
    page.get_by_role("cell", name=MODEL, exact=True).wait_for()
    check(page, artefacts, "models")


def test_fine_tuning_shows_the_servers_refusal(page: Page, artefacts: Path) -> None:
    """Two examples are too few to train on: the server's 400 is shown as it says it."""
    file_id = SHARED["training_file"]
    page.goto(page.url.split("#")[0] + f"#/fine-tuning?training_file={file_id}")
    form = page.get_by_role("form", name="Create fine-tuning job")
    form.get_by_label("Training file").select_option(file_id)
    form.get_by_role("button", name="Create job").click()
    alert = form.get_by_role("alert")
    alert.wait_for()
    assert alert.inner_text().strip()
    check(page, artefacts, "fine-tuning")


def test_fine_tuning_job_followed_to_the_end(
    page: Page, artefacts: Path, sync_client: openai.OpenAI
) -> None:
    """A tiny job (two steps) followed on its page until it succeeds: the loss curve has a
    point per step, the checkpoint is listed, and "Open in playground" next to the
    fine-tuned model selects it there, where it answers."""
    from playwright.sync_api import expect

    rows = [
        {
            "messages": [
                {"role": "user", "content": f"Question {i}?"},
                {"role": "assistant", "content": "Arr."},
            ]
        }
        for i in range(10)
    ]
    data = "".join(json.dumps(r) + "\n" for r in rows).encode()
    file_id = sync_client.files.create(file=("train.jsonl", data), purpose="fine-tune").id
    job = sync_client.fine_tuning.jobs.create(
        model=MODEL,
        training_file=file_id,
        method={
            "type": "supervised",
            "supervised": {"hyperparameters": {"n_epochs": 1, "batch_size": 5}},
        },
    )
    page.goto(page.url.split("#")[0] + f"#/fine-tuning/{job.id}")
    chart = page.get_by_test_id("loss-chart")
    chart.locator("canvas").wait_for(timeout=240_000)  # the first step (the base model loads)
    page.locator(".badge").filter(has_text="succeeded").wait_for(timeout=240_000)
    done = sync_client.fine_tuning.jobs.retrieve(job.id)
    assert done.status == "succeeded", done.error
    model = done.fine_tuned_model
    assert model is not None
    steps = sorted(
        e.data["step"]  # type: ignore[index]
        for e in sync_client.fine_tuning.jobs.list_events(job.id, limit=100)
        if e.type == "metrics"
    )
    assert steps == [1, 2]  # 10 examples / batch 5 x 1 epoch
    # every step is a point of the curve, the last one in its caption
    expect(chart).to_have_attribute("aria-label", re.compile(r"^Training loss over 2 steps;"))
    expect(page.locator("figure.chart figcaption")).to_contain_text("Step 2 of 2")
    checkpoint = sync_client.fine_tuning.jobs.checkpoints.list(job.id).data[0]
    page.get_by_role("cell", name=checkpoint.fine_tuned_model_checkpoint, exact=True).wait_for()
    page.get_by_text("successfully completed").wait_for()
    check(page, artefacts, "fine-tuning-job")

    page.locator("dd").filter(has_text=model).get_by_role("link", name="Open in playground").click()
    expect(page.get_by_label("Model", exact=True)).to_have_value(model)
    assert send(page, "Question 1?").strip()


def test_api_keys(page: Page, artefacts: Path, admin: openai.OpenAI, server: Server) -> None:
    """The default project's key is listed; a read-only key made through a new service
    account is shown once and can read but not write; its permissions change; it is
    deleted; a rate limit changed in the page is the API's."""
    org = admin.admin.organization
    project = org.projects.list().data[0]
    default_keys = org.projects.api_keys.list(project.id).data
    page.goto(page.url.split("#")[0] + "#/api-keys")
    assert page.get_by_label("Project").input_value() == project.id
    for key in default_keys:
        page.get_by_role("cell", name=key.name, exact=True).wait_for()
    check(page, artefacts, "api-keys")

    form = page.get_by_role("form", name="Create a key")
    form.get_by_label("Service account", exact=True).select_option(label="New service account…")
    form.get_by_label("New service account name").fill("dashboard-e2e")
    form.get_by_label("Key name").fill("e2e-reader")
    form.get_by_label("Read only").check()
    form.get_by_role("button", name="Create key").click()
    secret_box = page.get_by_test_id("new-secret")
    secret_box.wait_for()
    secret = secret_box.inner_text().strip()
    assert secret.startswith("sk-")
    row = page.get_by_role("row").filter(has_text="e2e-reader")
    row.filter(has_text="Read only").wait_for()
    assert "dashboard-e2e" in row.inner_text() and secret not in row.inner_text()
    check(page, artefacts, "api-keys-created")
    page.get_by_role("button", name="Done, hide it").click()
    assert page.get_by_test_id("new-secret").count() == 0
    assert secret not in page.content()  # shown once

    with openai.OpenAI(base_url=f"{server.url}/v1", api_key=secret, max_retries=0) as reader:
        reader.files.list()
        with pytest.raises(openai.AuthenticationError):
            reader.files.create(file=("x.jsonl", b'{"a": 1}\n'), purpose="user_data")

        page.get_by_role("button", name="Permissions of e2e-reader").click()
        edit = page.get_by_role("form", name="Permissions of e2e-reader")
        edit.get_by_label("Restricted").check()
        edit.get_by_label("Files: write").check()
        check(page, artefacts, "api-keys-permissions")
        edit.get_by_role("button", name="Save permissions").click()
        row.filter(has_text="Restricted: api.files.write").wait_for()
        made = reader.files.create(file=("x.jsonl", b'{"a": 1}\n'), purpose="user_data")
        admin.files.delete(made.id)

        page.once("dialog", lambda d: d.accept())
        page.get_by_role("button", name="Delete e2e-reader").click()
        row.wait_for(state="detached")
        with pytest.raises(openai.AuthenticationError):
            reader.files.list()

    page.get_by_label(f"RPM for {MODEL}").fill("4321")
    page.get_by_label(f"TPM for {MODEL}").fill("987654")
    page.get_by_role("button", name=f"Save limits for {MODEL}").click()
    page.get_by_role("row").filter(has_text=MODEL).get_by_role("status").wait_for()
    limits = {r.model: r for r in org.projects.rate_limits.list_rate_limits(project.id)}
    assert limits[MODEL].max_requests_per_1_minute == 4321
    assert limits[MODEL].max_tokens_per_1_minute == 987654
    check(page, artefacts, "api-keys-rate-limits")


def test_usage(page: Page, artefacts: Path, admin: openai.OpenAI) -> None:
    """Without the admin key the page asks for it; with it, a chat completion shows in the
    totals (equal to the SDK's usage report) and the charts are drawn."""
    admin.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Count to three."}], max_tokens=8
    )
    admin.admin.organization.projects.create(name="Usage e2e")
    page.get_by_role("button", name="Forget admin key").click()
    page.goto(page.url.split("#")[0] + "#/usage")
    page.get_by_role("region", name="Admin key needed").wait_for()
    check(page, artefacts, "usage-needs-admin-key")
    page.get_by_label("Admin key", exact=True).fill(API_KEY)  # a project key is refused
    page.get_by_role("button", name="Use admin key").click()
    page.get_by_role("alert").wait_for()
    page.get_by_label("Admin key", exact=True).fill(ADMIN_KEY)
    page.get_by_role("button", name="Use admin key").click()

    day = 86400
    start = int(time.time()) // day * day - 6 * day
    report = admin.admin.organization.usage.completions(
        start_time=start, bucket_width="1d", group_by=["model"], limit=7
    )
    results = [r for b in report.data for r in b.results]
    requests = sum(r.num_model_requests for r in results)
    assert requests > 0

    def total(name: str) -> int:
        page.get_by_test_id(f"total-{name}").wait_for()
        return int(page.get_by_test_id(f"total-{name}").inner_text().replace(",", ""))

    assert total("requests") == requests
    assert total("input") == sum(r.input_tokens for r in results)
    assert total("output") == sum(r.output_tokens for r in results)
    page.get_by_test_id("cost-chart").locator("canvas").wait_for()
    page.get_by_test_id("tokens-chart").locator("canvas").wait_for()
    page.get_by_role("cell", name=MODEL, exact=True).wait_for()
    check(page, artefacts, "usage")
    # the project filter: the new project has no usage, the default one has it all
    page.get_by_label("Project").select_option(label="Usage e2e")
    page.get_by_text("No usage in this period.").wait_for()
    assert total("requests") == 0
    page.get_by_label("Project").select_option(label="Default project")
    page.get_by_role("cell", name=MODEL, exact=True).wait_for()
    assert total("requests") == requests
    page.get_by_label("Period").select_option("24h")
    page.get_by_role("region", name="Tokens per hour").locator("canvas").wait_for()
    assert total("requests") == requests
    page.set_viewport_size(PHONE)
    # the charts follow the width (a ResizeObserver): nothing wider than the screen
    page.wait_for_function("() => document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=str(artefacts / "usage-phone.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def test_usage_every_kind(page: Page, artefacts: Path, admin: openai.OpenAI) -> None:
    """Each usage kind the API reports has its view, in its own unit, totals equal to the
    SDK's report: embeddings (tokens), speech (characters), transcriptions (seconds), code
    interpreter sessions, vector stores (bytes), moderations and images."""
    admin.embeddings.create(model="text-embedding-3-small", input="usage by kind")
    spoken = admin.audio.speech.create(
        model="tts-1", voice="alloy", input="Usage by kind.", response_format="wav"
    )
    admin.audio.transcriptions.create(model="whisper-1", file=("usage.wav", spoken.content))
    uploaded = admin.files.create(file=("usage.txt", b"Usage by kind.\n"), purpose="assistants")
    admin.vector_stores.create(name="usage e2e", file_ids=[uploaded.id])
    # without a code interpreter sandbox on this host, the page shows 0 sessions
    with contextlib.suppress(openai.BadRequestError):
        admin.containers.create(name="usage e2e")
    day = 86400
    start = int(time.time()) // day * day - 6 * day
    usage = admin.admin.organization.usage
    page.get_by_label("Period").select_option("7d")
    page.get_by_label("Project").select_option("")
    kinds = {
        "embeddings": ("input", "input_tokens"),
        "audio_speeches": ("characters", "characters"),
        "audio_transcriptions": ("seconds", "seconds"),
        "code_interpreter_sessions": ("sessions", "num_sessions"),
        "vector_stores": ("bytes", "usage_bytes"),
        "moderations": ("input", "input_tokens"),
        "images": ("images", "images"),
    }
    for kind, (test_id, field) in kinds.items():
        report = getattr(usage, kind)(start_time=start, bucket_width="1d", limit=7)
        values = [getattr(r, field) for b in report.data for r in b.results]
        # a vector store's bytes are a level (stored at each bucket's end), not a count
        if kind == "vector_stores":
            last = report.data[-1].results
            expected = sum(r.usage_bytes for r in last)
        else:
            expected = sum(values)
        page.get_by_label("Kind").select_option(kind)
        shown = page.get_by_test_id(f"total-{test_id}")
        shown.wait_for()
        page.wait_for_function(
            f"() => document.querySelector('[data-testid=total-{test_id}]')"
            f".dataset.value === '{expected}'",
            timeout=10_000,
        )
        if kind in ("embeddings", "audio_speeches", "audio_transcriptions"):
            assert expected > 0, kind
            page.get_by_test_id("kind-chart").locator("canvas").wait_for()
            page.get_by_role("region", name="By model").get_by_role("row").nth(1).wait_for()
        if kind == "vector_stores":
            assert expected > 0
            page.get_by_role("cell", name="Default project").wait_for()
        check(page, artefacts, f"usage-{kind}")
    page.get_by_label("Kind").select_option("completions")
    page.get_by_test_id("total-requests").wait_for()


# every page, with the admin key (API keys and Usage show their content, not the gate)
PAGES = (
    "playground",
    "logs",
    "logs?source=responses",
    "evals",
    "fine-tuning",
    "files",
    "models",
    "api-keys",
    "usage",
)


def test_every_page_at_phone_width(page: Page, artefacts: Path) -> None:
    """At 390 x 844 (a phone) no page is wider than the screen (tables scroll in their
    own box) and axe-core finds nothing serious."""
    page.set_viewport_size(PHONE)
    try:
        for path in PAGES:
            page.goto(page.url.split("#")[0] + f"#/{path}")
            page.locator("main h1").wait_for()
            page.wait_for_function("() => !document.body.innerText.includes('Loading…')")
            page.wait_for_timeout(300)  # charts follow their box's width
            width = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
            assert width[0] <= width[1], f"{path}: {width[0]} px wide at {width[1]}"
            check(page, artefacts, f"phone-{path.replace('?', '-').replace('=', '-')}")
    finally:
        page.set_viewport_size({"width": 1280, "height": 900})


def test_sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("API key").wait_for()
    assert page.evaluate("sessionStorage.getItem('hearth.apiKey')") is None
    assert page.evaluate("sessionStorage.getItem('hearth.adminKey')") is None
