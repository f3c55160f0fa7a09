// The official Node SDK against a running Hearth, as its users call it. Every scenario
// throws on a broken protocol or a schema-invalid outcome; the run prints one JSON report,
// {name: {"ok": true} | {"error": "..."}}, which tests/clients/test_node.py judges.
// Environment: OPENAI_BASE_URL, OPENAI_API_KEY, HEARTH_MODEL.
import assert from "node:assert/strict";
import OpenAI, { toFile } from "openai";
import { zodFunction, zodResponseFormat } from "openai/helpers/zod";
import { z } from "zod";

const client = new OpenAI({ maxRetries: 0 });
const model = process.env.HEARTH_MODEL;
const TEXT = "Paris is the capital of France, home to 2,100,000 people. Extract the city.";
const City = z.object({
  name: z.string().max(40),
  country: z.string().max(40),
  population: z.number().int(),
});

const scenarios = {
  async models_list() {
    const ids = [];
    for await (const m of client.models.list()) ids.push(m.id);
    assert.ok(ids.includes(model), ids.join(", "));
  },

  async chat_create() {
    const out = await client.chat.completions.create({
      model,
      messages: [{ role: "user", content: "Say hello." }],
      max_tokens: 16,
    });
    assert.equal(out.object, "chat.completion");
    assert.equal(out.choices[0].message.role, "assistant");
    assert.ok(typeof out.choices[0].message.content === "string");
    assert.ok(out.usage.completion_tokens > 0 && out.usage.completion_tokens <= 16);
  },

  async chat_stream() {
    const stream = await client.chat.completions.create({
      model,
      messages: [{ role: "user", content: "Say hello." }],
      max_tokens: 16,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    let pieces = 0;
    let usage = null;
    for await (const chunk of stream) {
      if (chunk.usage) usage = chunk.usage;
      const delta = chunk.choices[0]?.delta?.content;
      if (delta) {
        text += delta;
        pieces += 1;
      }
    }
    assert.ok(pieces > 1 && text.length > 0);
    assert.ok(usage && usage.completion_tokens > 0);
  },

  async chat_stream_helper() {
    // client.chat.completions.stream: the SDK's event-emitting runner
    const runner = client.chat.completions.stream({
      model,
      messages: [{ role: "user", content: "Say hello." }],
      max_tokens: 16,
    });
    const deltas = [];
    runner.on("content", (delta) => deltas.push(delta));
    const final = await runner.finalChatCompletion();
    assert.ok(deltas.length > 1);
    assert.equal(final.choices[0].message.content, deltas.join(""));
  },

  async parse_zod_response_format() {
    const out = await client.chat.completions.parse({
      model,
      messages: [{ role: "user", content: TEXT }],
      response_format: zodResponseFormat(City, "city"),
      max_tokens: 100,
      temperature: 0,
    });
    const parsed = out.choices[0].message.parsed;
    City.parse(parsed);
  },

  async parse_zod_function_tool() {
    const out = await client.chat.completions.parse({
      model,
      messages: [{ role: "user", content: TEXT }],
      tools: [zodFunction({ name: "record_city", parameters: City })],
      tool_choice: { type: "function", function: { name: "record_city" } },
      max_tokens: 100,
      temperature: 0,
    });
    const [call] = out.choices[0].message.tool_calls;
    assert.equal(call.function.name, "record_city");
    City.parse(call.function.parsed_arguments);
  },

  async tools_required() {
    const out = await client.chat.completions.create({
      model,
      messages: [{ role: "user", content: "What time is it in Rome?" }],
      tools: [
        {
          type: "function",
          function: {
            name: "get_time",
            parameters: {
              type: "object",
              properties: { city: { type: "string", maxLength: 40 } },
              required: ["city"],
            },
          },
        },
      ],
      tool_choice: "required",
      max_tokens: 60,
      // greedy: sampled, the small model may keep adding parallel calls until max_tokens
      temperature: 0,
    });
    const choice = out.choices[0];
    assert.equal(choice.finish_reason, "tool_calls");
    for (const call of choice.message.tool_calls) {
      assert.ok(call.id && call.type === "function" && call.function.name === "get_time");
      z.object({ city: z.string().max(40) }).parse(JSON.parse(call.function.arguments));
    }
  },

  async run_tools() {
    const seen = [];
    const runner = client.chat.completions.runTools({
      model,
      messages: [{ role: "user", content: "How many people live in Paris?" }],
      tools: [
        {
          type: "function",
          function: {
            name: "population_of",
            description: "The population of a city.",
            parameters: {
              type: "object",
              properties: { city: { type: "string", maxLength: 40 } },
              required: ["city"],
              additionalProperties: false,
            },
            parse: JSON.parse,
            function: ({ city }) => {
              seen.push(city);
              return { population: 2100000 };
            },
          },
        },
      ],
      // a named choice: the runner calls it once, then stops
      tool_choice: { type: "function", function: { name: "population_of" } },
      max_tokens: 60,
    });
    await runner.done();
    assert.equal(seen.length, 1);
    assert.equal(typeof seen[0], "string");
    const results = runner.messages.filter((m) => m.role === "tool");
    assert.equal(results.length, 1);
    assert.deepEqual(JSON.parse(results[0].content), { population: 2100000 });
  },

  async audio_speech_then_transcription() {
    const speech = await client.audio.speech.create({
      model: "tts-1",
      voice: "alloy",
      input: "The quick brown fox jumps over the lazy dog.",
      response_format: "wav",
    });
    const wav = Buffer.from(await speech.arrayBuffer());
    assert.equal(wav.subarray(0, 4).toString("latin1"), "RIFF");
    assert.ok(wav.length > 16000, `${wav.length} bytes`);
    const heard = await client.audio.transcriptions.create({
      file: await toFile(wav, "speech.wav"),
      model: "whisper-1",
    });
    assert.ok(typeof heard.text === "string" && heard.text.trim().length > 0);
    const verbose = await client.audio.transcriptions.create({
      file: await toFile(wav, "speech.wav"),
      model: "whisper-1",
      response_format: "verbose_json",
      timestamp_granularities: ["word"],
    });
    assert.ok(verbose.duration > 0 && verbose.words.length > 0);
  },

  async files_lifecycle() {
    const body = '{"item": {"q": "hi"}}\n';
    const created = await client.files.create({
      file: await toFile(Buffer.from(body), "items.jsonl"),
      purpose: "user_data",
    });
    assert.equal(created.object, "file");
    assert.equal(created.bytes, Buffer.byteLength(body));
    assert.equal(created.filename, "items.jsonl");
    const listed = [];
    for await (const f of client.files.list()) listed.push(f.id);
    assert.ok(listed.includes(created.id));
    const got = await client.files.retrieve(created.id);
    assert.equal(got.id, created.id);
    const content = await client.files.content(created.id);
    assert.equal(await content.text(), body);
    const deleted = await client.files.delete(created.id);
    assert.ok(deleted.deleted);
    await assert.rejects(client.files.retrieve(created.id), OpenAI.NotFoundError);
  },

  async legacy_completions() {
    const out = await client.completions.create({ model, prompt: "Once upon a time", max_tokens: 8 });
    assert.equal(out.object, "text_completion");
    assert.ok(typeof out.choices[0].text === "string");
    assert.ok(out.usage.completion_tokens > 0 && out.usage.completion_tokens <= 8);
  },

  async embeddings() {
    // the Node SDK asks for base64 by default and decodes it into floats
    const out = await client.embeddings.create({
      model: "text-embedding-3-small",
      input: ["The cat sat on the mat.", "A feline rested on a rug.", "Stock markets fell."],
    });
    assert.equal(out.data.length, 3);
    const [a, b, c] = out.data.map((d) => d.embedding);
    assert.equal(a.length, 384);
    const dot = (x, y) => x.reduce((sum, v, i) => sum + v * y[i], 0);
    assert.ok(Math.abs(dot(a, a) - 1) < 1e-3);
    assert.ok(dot(a, b) > dot(a, c), `${dot(a, b)} <= ${dot(a, c)}`);
    assert.ok(out.usage.prompt_tokens > 0);
  },

  async vector_store_upload_and_search() {
    const store = await client.vectorStores.create({ name: "node" });
    const text = "The Hearthstone foghorn is tuned to 212 Hz.\nThe lamp was relit in 1897.";
    const file = await client.vectorStores.files.uploadAndPoll(
      store.id,
      await toFile(Buffer.from(text), "notes.md"),
      { pollIntervalMs: 100 },
    );
    assert.equal(file.status, "completed");
    const results = [];
    for await (const hit of client.vectorStores.search(store.id, { query: "foghorn pitch" })) {
      results.push(hit);
    }
    assert.ok(results.length > 0);
    assert.equal(results[0].file_id, file.id);
    assert.equal(results[0].filename, "notes.md");
    assert.ok(results[0].content[0].text.includes("212 Hz"));
    const deleted = await client.vectorStores.delete(store.id);
    assert.equal(deleted.deleted, true);
  },

  async errors_are_typed() {
    await assert.rejects(
      client.chat.completions.create({ model, messages: [], max_tokens: 4 }),
      (err) => err instanceof OpenAI.BadRequestError && err.status === 400 && err.param === "messages",
    );
    await assert.rejects(
      client.chat.completions.create({ model: "no-such-model", messages: [{ role: "user", content: "hi" }] }),
      (err) => err instanceof OpenAI.NotFoundError && err.code === "model_not_found",
    );
  },
};

const only = new Set(process.argv.slice(2));
const report = {};
for (const [name, scenario] of Object.entries(scenarios)) {
  if (only.size && !only.has(name)) continue;
  try {
    await scenario();
    report[name] = { ok: true };
  } catch (err) {
    report[name] = { error: String(err?.stack ?? err).slice(0, 3000) };
  }
}
console.log(JSON.stringify(report));
