// Hearth Realtime demo: a voice conversation over /v1/realtime (OpenAI's GA Realtime
// protocol, spoken the way OpenAI's browser clients speak it). No build step and nothing
// loaded from elsewhere. Progress is mirrored on window.hearthDemo and on #demo's data-
// attributes for tests. See docs/realtime-demo.md.
"use strict";

(() => {
  const RATE = 24000; // pcm16 mono in both directions
  const BASE = new URL(".", document.currentScript.src); // where app.js and the worklet live
  const SESSION = {
    type: "realtime",
    instructions: "You are a helpful voice assistant. Answer in one or two short sentences.",
    output_modalities: ["audio"],
    audio: {
      input: {
        format: { type: "audio/pcm", rate: RATE },
        transcription: { model: "gpt-4o-mini-transcribe" },
        turn_detection: {
          type: "server_vad", threshold: 0.5, prefix_padding_ms: 300,
          silence_duration_ms: 500, create_response: true, interrupt_response: true,
        },
      },
      output: { format: { type: "audio/pcm", rate: RATE }, voice: "alloy" },
    },
    tools: [{
      type: "function", name: "get_time", description: "Get the current local time of the user.",
      parameters: { type: "object", properties: {}, required: [] },
    }],
    tool_choice: "auto",
    // a spoken answer is bounded: small local models do not always stop after two sentences
    max_output_tokens: 80,
  };
  const TOOLS = { get_time: () => ({ time: new Date().toLocaleTimeString() }) };

  const demo = (window.hearthDemo = {
    state: "idle", events: [], userTranscripts: [], assistantTranscripts: [],
    audioBytes: 0, errors: [], toolCalls: [], responses: [],
  });

  const $ = (id) => document.getElementById(id);
  const root = $("demo");
  const startButton = $("start");
  const stopButton = $("stop");
  const keyRow = $("key-row");
  const keyInput = $("api-key");
  const statusLine = $("status");
  const transcript = $("transcript");

  let generation = 0; // bumped by Stop: callbacks of an older connection do nothing
  let ws = null;
  let ctx = null; // one AudioContext for the microphone and for playback
  let mic = null; // {stream, source, node}
  let playback = newPlayback();
  let turns = new Map(); // item id -> transcript element
  let toolResponses = new Set(); // responses that called a tool: response.create after them
  let responseAudio = new Map(); // response id -> audio bytes received

  class NeedKey extends Error {}

  // ---- state shown to people and to tests -------------------------------------------

  function setState(state) {
    demo.state = state;
    const busy = !["idle", "closed", "error"].includes(state);
    startButton.disabled = busy;
    stopButton.disabled = !busy;
    sync();
  }

  function sync() {
    const d = root.dataset;
    d.state = demo.state;
    d.events = String(demo.events.length);
    d.audioBytes = String(demo.audioBytes);
    d.userTranscripts = String(demo.userTranscripts.length);
    d.assistantTranscripts = String(demo.assistantTranscripts.length);
    d.responsesDone = String(demo.responses.length);
    d.errors = String(demo.errors.length);
  }

  function say(message, isError = false) {
    statusLine.textContent = message;
    statusLine.classList.toggle("error", isError);
  }

  function fail(error) {
    const message = (error && error.message) || String(error);
    demo.errors.push({ type: "client_error", message });
    say("Error: " + message, true);
    sync();
  }

  function turn(role, itemId, text = "") {
    let el = itemId ? turns.get(itemId) : null;
    if (!el) {
      el = document.createElement("div");
      el.className = "turn " + role;
      el.dataset.role = role;
      if (itemId) {
        el.dataset.itemId = itemId;
        turns.set(itemId, el);
      }
      const who = document.createElement("span");
      who.className = "who";
      who.textContent = { user: "You:", assistant: "Assistant:", tool: "" }[role];
      el.append(who, document.createElement("span"));
      transcript.append(el);
      transcript.scrollTop = transcript.scrollHeight;
    }
    if (text) el.lastChild.textContent = text;
    return el;
  }

  function appendTo(role, itemId, delta) {
    const el = turn(role, itemId);
    el.classList.remove("pending");
    el.lastChild.textContent += delta;
  }

  // ---- connecting ---------------------------------------------------------------------

  async function clientSecret() {
    const body = JSON.stringify({ session: { type: "realtime", model: "gpt-realtime" } });
    const headers = { "Content-Type": "application/json" };
    const key = keyInput.value.trim(); // used for this request only, never stored
    if (!key) {
      const r = await fetch("/hearth/realtime/demo-token", { method: "POST", headers, body });
      if (r.status === 403) throw new NeedKey();
      return secretOf(r);
    }
    headers.Authorization = "Bearer " + key;
    return secretOf(await fetch("/v1/realtime/client_secrets", { method: "POST", headers, body }));
  }

  async function secretOf(response) {
    let body = null;
    try {
      body = await response.json();
    } catch (_) { /* not JSON */ }
    if (!response.ok) {
      const message = body && body.error && body.error.message;
      throw new Error(message || `client secret: HTTP ${response.status}`);
    }
    if (!body || typeof body.value !== "string") throw new Error("no client secret in the reply");
    return body.value;
  }

  async function start() {
    if (startButton.disabled) return; // already running
    setState("connecting");
    const gen = ++generation;
    resetConversation();
    // created in the click handler, so the browser lets it play
    ctx = new AudioContext({ sampleRate: RATE });
    ctx.resume().catch(() => {});
    say("Getting a session key…");
    let secret;
    try {
      secret = await clientSecret();
    } catch (error) {
      if (gen !== generation) return;
      teardown();
      if (error instanceof NeedKey) {
        keyRow.hidden = false;
        keyInput.focus();
        setState("idle");
        say("This server gives demo keys to local visitors only: enter an API key and press Start.");
      } else {
        setState("error");
        fail(error);
      }
      return;
    }
    if (gen !== generation) return;
    say("Connecting…");
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + location.host + "/v1/realtime?model=gpt-realtime",
      ["realtime", "openai-insecure-api-key." + secret]);
    ws = socket;
    socket.onopen = () => gen === generation && setState("connected");
    socket.onmessage = (message) => {
      if (gen !== generation) return;
      let event;
      try {
        event = JSON.parse(message.data);
      } catch (_) {
        fail(new Error("a server message that is not JSON"));
        return;
      }
      try {
        handle(event, gen);
      } catch (error) {
        fail(error);
      }
      sync();
    };
    socket.onclose = (close) => {
      if (gen !== generation) return;
      const wasLive = demo.state === "live";
      teardown();
      if (close.code === 1000) {
        setState("closed");
        say("The server ended the session.");
      } else {
        setState("error");
        const why = close.reason ? `: ${close.reason}` : "";
        fail(new Error(wasLive ? `connection lost (${close.code}${why})`
          : `could not connect to /v1/realtime (${close.code}${why})`));
      }
    };
  }

  function stop() {
    generation++;
    teardown();
    setState("idle");
    say("Stopped.");
  }

  function teardown() {
    if (ws) {
      const socket = ws;
      ws = null;
      if (socket.readyState <= WebSocket.OPEN) socket.close(1000);
    }
    if (mic) {
      mic.stream.getTracks().forEach((t) => t.stop());
      mic.source.disconnect();
      mic.node.port.onmessage = null;
      mic.node.disconnect();
      mic = null;
    }
    stopPlayback();
    if (ctx) {
      ctx.close().catch(() => {});
      ctx = null;
    }
  }

  function resetConversation() {
    playback = newPlayback();
    toolResponses = new Set();
    responseAudio = new Map();
  }

  function send(event) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(event));
  }

  // ---- server events ------------------------------------------------------------------

  function handle(event, gen) {
    demo.events.push(event.type);
    switch (event.type) {
      case "session.created":
        send({ type: "session.update", session: SESSION });
        say("Starting the microphone…");
        startMicrophone(gen).catch((error) => {
          if (gen !== generation) return;
          teardown();
          setState("error");
          fail(error);
        });
        break;
      case "input_audio_buffer.speech_started":
        interrupt();
        turn("user", event.item_id, "…").classList.add("pending");
        say("Listening…");
        break;
      case "input_audio_buffer.committed":
        turn("user", event.item_id);
        say("Thinking…");
        break;
      case "conversation.item.input_audio_transcription.completed": {
        const text = (event.transcript || "").trim();
        const el = turn("user", event.item_id, text || "(nothing heard)");
        el.classList.remove("pending");
        if (text) demo.userTranscripts.push(text);
        break;
      }
      case "conversation.item.input_audio_transcription.failed":
        turn("user", event.item_id, "(not transcribed)").classList.remove("pending");
        break;
      case "response.output_item.added":
        if (event.item && event.item.type === "message") turn("assistant", event.item.id);
        break;
      case "response.output_audio.delta":
        playChunk(event);
        say("Answering…");
        break;
      case "response.output_audio_transcript.delta":
      case "response.output_text.delta":
        appendTo("assistant", event.item_id, event.delta || "");
        break;
      case "response.output_audio_transcript.done":
      case "response.output_text.done": {
        const text = event.type.endsWith("transcript.done") ? event.transcript : event.text;
        turn("assistant", event.item_id, text || "");
        if (text) demo.assistantTranscripts.push(text);
        break;
      }
      case "response.function_call_arguments.done":
        callTool(event);
        break;
      case "response.done":
        responseDone(event.response || {});
        break;
      case "error": {
        const error = event.error || {};
        demo.errors.push(error);
        say("Error: " + (error.message || "unknown error"), true);
        break;
      }
      default:
        break;
    }
  }

  function callTool(event) {
    const args = event.arguments || "{}";
    const shown = args.replace(/\s+/g, "") === "{}" ? "" : args;
    turn("tool", null, `tool call: ${event.name}(${shown})`);
    let output;
    try {
      const tool = TOOLS[event.name];
      output = tool ? tool(JSON.parse(args)) : { error: `no tool named ${event.name}` };
    } catch (error) {
      output = { error: String(error) };
    }
    const outputJson = JSON.stringify(output);
    turn("tool", null, `tool result: ${outputJson}`);
    demo.toolCalls.push({ name: event.name, arguments: args, call_id: event.call_id, output });
    send({
      type: "conversation.item.create",
      item: { type: "function_call_output", call_id: event.call_id, output: outputJson },
    });
    toolResponses.add(event.response_id || "*");
  }

  function responseDone(response) {
    const id = response.id;
    demo.responses.push({ id, status: response.status, audioBytes: responseAudio.get(id) || 0 });
    const calledTool = toolResponses.delete(id) || toolResponses.delete("*");
    if (calledTool && response.status !== "cancelled" && response.status !== "failed") {
      send({ type: "response.create" }); // let the model answer with the tool's output
    } else {
      listenAfterPlayback();
    }
    if (response.status === "failed") {
      const details = response.status_details || {};
      const error = details.error || { message: "the response failed" };
      demo.errors.push(error);
      say("Error: " + (error.message || "the response failed"), true);
    }
  }

  function listenAfterPlayback() {
    const gen = generation;
    const left = ctx ? Math.max(0, playback.nextTime - ctx.currentTime) : 0;
    setTimeout(() => {
      if (gen === generation && demo.state === "live" && !isPlaying()) say("Listening…");
    }, left * 1000 + 100);
  }

  // ---- microphone ---------------------------------------------------------------------

  async function startMicrophone(gen) {
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true },
    });
    if (gen !== generation) {
      stream.getTracks().forEach((t) => t.stop());
      return;
    }
    await ctx.audioWorklet.addModule(new URL("mic-worklet.js", BASE).href);
    let source;
    try {
      source = ctx.createMediaStreamSource(stream);
    } catch (_) {
      // Firefox cannot feed a microphone into a context of another rate: run at the
      // device's rate and let the worklet resample to 24 kHz
      await ctx.close();
      ctx = new AudioContext();
      await ctx.audioWorklet.addModule(new URL("mic-worklet.js", BASE).href);
      source = ctx.createMediaStreamSource(stream);
    }
    if (gen !== generation) {
      stream.getTracks().forEach((t) => t.stop());
      return;
    }
    const node = new AudioWorkletNode(ctx, "hearth-mic", {
      numberOfInputs: 1, numberOfOutputs: 1, outputChannelCount: [1],
      processorOptions: { targetRate: RATE, chunkSamples: RATE / 10 },
    });
    node.port.onmessage = (message) => sendAudio(message.data);
    source.connect(node);
    node.connect(ctx.destination); // silent; keeps the worklet pulled
    mic = { stream, source, node };
    setState("live");
    say("Listening… ask something.");
  }

  function sendAudio(samples) {
    if (demo.state !== "live") return;
    const pcm = new DataView(new ArrayBuffer(samples.length * 2));
    for (let i = 0; i < samples.length; i++) {
      const s = Math.max(-1, Math.min(1, samples[i]));
      pcm.setInt16(i * 2, s < 0 ? s * 0x8000 : s * 0x7fff, true);
    }
    send({ type: "input_audio_buffer.append", audio: toBase64(new Uint8Array(pcm.buffer)) });
  }

  function toBase64(bytes) {
    let binary = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
      binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return btoa(binary);
  }

  function fromBase64(text) {
    const binary = atob(text);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  }

  // ---- playback -----------------------------------------------------------------------

  function newPlayback() {
    // chunks: scheduled {source, itemId, start, duration}; muted: items cut off by the user
    return { nextTime: 0, chunks: [], muted: new Set() };
  }

  function playChunk(event) {
    const bytes = fromBase64(event.delta || "");
    demo.audioBytes += bytes.length;
    responseAudio.set(event.response_id, (responseAudio.get(event.response_id) || 0) + bytes.length);
    const frames = bytes.length >> 1;
    if (!ctx || !frames || playback.muted.has(event.item_id)) return;
    const buffer = ctx.createBuffer(1, frames, RATE);
    const channel = buffer.getChannelData(0);
    const pcm = new DataView(bytes.buffer, 0, frames * 2);
    for (let i = 0; i < frames; i++) channel[i] = pcm.getInt16(i * 2, true) / 32768;
    const source = ctx.createBufferSource();
    source.buffer = buffer;
    source.connect(ctx.destination);
    const now = ctx.currentTime;
    // gapless: each chunk starts where the previous one ends (a little ahead after a gap)
    const start = Math.max(playback.nextTime, now + 0.05);
    source.start(start);
    playback.nextTime = start + buffer.duration;
    // forget chunks of earlier items that have finished playing
    playback.chunks = playback.chunks.filter(
      (c) => c.itemId === event.item_id || c.start + c.duration > now);
    playback.chunks.push({ source, itemId: event.item_id, start, duration: buffer.duration });
  }

  function isPlaying() {
    return !!ctx && playback.nextTime > ctx.currentTime;
  }

  function stopPlayback() {
    for (const c of playback.chunks) {
      try {
        c.source.stop();
      } catch (_) { /* never started */ }
    }
    playback.chunks = [];
    playback.nextTime = 0;
  }

  // The user talks over the answer: stop it now and tell the server how much was heard.
  function interrupt() {
    if (!isPlaying()) return;
    const now = ctx.currentTime;
    const sounding = playback.chunks.filter((c) => c.start + c.duration > now);
    const itemId = sounding.length ? sounding[0].itemId : null;
    let playedSeconds = 0;
    for (const c of playback.chunks) {
      if (c.itemId === itemId) playedSeconds += Math.min(c.duration, Math.max(0, now - c.start));
    }
    stopPlayback();
    if (!itemId) return;
    playback.muted.add(itemId); // deltas still on their way for this item are dropped
    send({
      type: "conversation.item.truncate", item_id: itemId, content_index: 0,
      audio_end_ms: Math.floor(playedSeconds * 1000),
    });
    const el = turns.get(itemId);
    if (el) el.classList.add("interrupted");
  }

  $("controls").addEventListener("submit", (e) => {
    e.preventDefault(); // Start, or Enter in the key field
    start();
  });
  stopButton.addEventListener("click", () => stop());
  setState("idle");
})();
