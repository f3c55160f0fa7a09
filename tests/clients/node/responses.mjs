// The official Node SDK's Responses and Conversations resources against a running Hearth,
// as its users call them. Same contract as clients.mjs: every scenario throws on a broken
// protocol or a schema-invalid outcome; the run prints one JSON report,
// {name: {"ok": true} | {"error": "..."}}, which tests/clients/test_node.py judges.
// Environment: OPENAI_BASE_URL, OPENAI_API_KEY, HEARTH_MODEL.
import assert from "node:assert/strict";
import OpenAI from "openai";
import { zodTextFormat } from "openai/helpers/zod";
import { z } from "zod";

const client = new OpenAI({ maxRetries: 0 });
const model = process.env.HEARTH_MODEL;
const TEXT = "Paris is the capital of France, home to 2,100,000 people. Extract the city.";
const City = z.object({
  name: z.string().max(40),
  country: z.string().max(40),
  population: z.number().int(),
});
const POPULATION_OF = {
  type: "function",
  name: "population_of",
  description: "The population of a city.",
  parameters: {
    type: "object",
    properties: { city: { type: "string", maxLength: 40 } },
    required: ["city"],
    additionalProperties: false,
  },
  strict: true,
};

const messageTexts = (items) =>
  items
    .filter((i) => i.type === "message")
    .flatMap((i) => i.content)
    .filter((c) => c.type === "input_text" || c.type === "output_text")
    .map((c) => c.text);

const scenarios = {
  async responses_create() {
    const out = await client.responses.create({
      model,
      instructions: "Answer in one short sentence.",
      input: "Say hello.",
      max_output_tokens: 16,
      temperature: 0,
    });
    assert.equal(out.object, "response");
    assert.ok(out.id.startsWith("resp_"), out.id);
    assert.equal(out.model, model);
    assert.ok(["completed", "incomplete"].includes(out.status), out.status);
    const [message] = out.output;
    assert.equal(message.type, "message");
    assert.equal(message.role, "assistant");
    assert.equal(message.content[0].type, "output_text");
    // output_text: the SDK's own join of the output_text parts
    assert.ok(out.output_text.length > 0 && out.output_text === message.content[0].text);
    const u = out.usage;
    assert.ok(u.output_tokens > 0 && u.output_tokens <= 16, JSON.stringify(u));
    assert.equal(u.total_tokens, u.input_tokens + u.output_tokens);
  },

  async responses_stream() {
    const stream = client.responses.stream({
      model,
      instructions: "Answer in one short sentence.",
      input: "Say hello.",
      max_output_tokens: 16,
      temperature: 0,
    });
    const deltas = [];
    stream.on("response.output_text.delta", (e) => deltas.push(e.delta));
    const types = [];
    const sequence = [];
    for await (const event of stream) {
      types.push(event.type);
      sequence.push(event.sequence_number);
    }
    const final = await stream.finalResponse();
    assert.equal(types[0], "response.created");
    assert.ok(["response.completed", "response.incomplete"].includes(types.at(-1)), types.at(-1));
    for (const t of ["response.output_item.added", "response.content_part.added", "response.output_text.done"]) {
      assert.ok(types.includes(t), `no ${t} in ${types.join(", ")}`);
    }
    assert.deepEqual(sequence, sequence.map((_, i) => sequence[0] + i));
    assert.ok(deltas.length > 1);
    assert.equal(final.output_text, deltas.join(""));
    assert.ok(final.usage.output_tokens > 0);
  },

  async responses_parse_zod_text_format() {
    const out = await client.responses.parse({
      model,
      input: TEXT,
      text: { format: zodTextFormat(City, "city") },
      max_output_tokens: 100,
      temperature: 0,
    });
    assert.equal(out.status, "completed");
    City.parse(out.output_parsed);
  },

  async function_call_round_trip() {
    const first = await client.responses.create({
      model,
      input: "How many people live in Paris?",
      tools: [POPULATION_OF],
      tool_choice: "required",
      parallel_tool_calls: false,
      max_output_tokens: 60,
      temperature: 0,
    });
    assert.equal(first.status, "completed");
    const calls = first.output.filter((i) => i.type === "function_call");
    assert.equal(calls.length, 1, JSON.stringify(first.output));
    const [call] = calls;
    assert.equal(call.name, "population_of");
    assert.ok(call.call_id && call.id, JSON.stringify(call));
    z.object({ city: z.string().max(40) }).strict().parse(JSON.parse(call.arguments));

    // the answer to the call continues the stored response; tool_choice none: a message
    const second = await client.responses.create({
      model,
      previous_response_id: first.id,
      input: [
        { type: "function_call_output", call_id: call.call_id, output: JSON.stringify({ population: 2100000 }) },
      ],
      tools: [POPULATION_OF],
      tool_choice: "none",
      max_output_tokens: 32,
      temperature: 0,
    });
    assert.equal(second.previous_response_id, first.id);
    assert.ok(["completed", "incomplete"].includes(second.status), second.status);
    assert.deepEqual(
      second.output.map((i) => i.type),
      ["message"],
    );
    // the context was read: the second prompt holds more than the first turn's question
    const bare = await client.responses.inputTokens.count({ model, input: "How many people live in Paris?" });
    assert.equal(bare.object, "response.input_tokens");
    assert.ok(second.usage.input_tokens > bare.input_tokens, `${second.usage.input_tokens}`);
    const inputs = [];
    for await (const item of client.responses.inputItems.list(second.id, { order: "asc" })) inputs.push(item);
    // (whether the listing also holds the chained context is not checked: only this input)
    assert.equal(inputs.at(-1).type, "function_call_output");
    assert.equal(inputs.at(-1).call_id, call.call_id);
  },

  async conversation_items() {
    const conversation = await client.conversations.create({
      items: [{ type: "message", role: "user", content: "My name is Ada." }],
      metadata: { suite: "node" },
    });
    assert.equal(conversation.object, "conversation");
    assert.ok(conversation.id.startsWith("conv_"), conversation.id);
    assert.deepEqual(conversation.metadata, { suite: "node" });

    const out = await client.responses.create({
      model,
      conversation: conversation.id,
      instructions: "Answer in one short sentence.",
      input: "What is my name?",
      max_output_tokens: 32,
      temperature: 0,
    });
    assert.equal(out.conversation?.id, conversation.id);
    const items = [];
    for await (const item of client.conversations.items.list(conversation.id, { order: "asc" })) items.push(item);
    // the seeded message, this turn's input, then its output
    assert.deepEqual(
      items.map((i) => [i.type, i.role]),
      [
        ["message", "user"],
        ["message", "user"],
        ["message", "assistant"],
      ],
    );
    assert.deepEqual(messageTexts(items.slice(0, 2)), ["My name is Ada.", "What is my name?"]);
    assert.equal(items[2].id, out.output[0].id);
    assert.equal(messageTexts(items.slice(2))[0], out.output_text);

    // a second turn reads the first
    const again = await client.responses.create({
      model,
      conversation: { id: conversation.id },
      instructions: "Answer in one short sentence.",
      input: "Thanks.",
      max_output_tokens: 16,
      temperature: 0,
    });
    assert.ok(again.usage.input_tokens > out.usage.input_tokens);
    const after = [];
    for await (const item of client.conversations.items.list(conversation.id)) after.push(item);
    assert.equal(after.length, 5);
    assert.equal(after[0].id, again.output[0].id); // desc by default

    const deleted = await client.conversations.delete(conversation.id);
    assert.equal(deleted.deleted, true);
    await assert.rejects(client.conversations.retrieve(conversation.id), OpenAI.NotFoundError);
  },

  async retrieve_and_delete() {
    const created = await client.responses.create({
      model,
      instructions: "Answer in one short sentence.",
      input: "Say hello.",
      max_output_tokens: 16,
      temperature: 0,
    });
    const got = await client.responses.retrieve(created.id);
    assert.equal(got.id, created.id);
    assert.equal(got.status, created.status);
    assert.equal(got.output_text, created.output_text);
    assert.deepEqual(got.usage, created.usage);
    await client.responses.delete(created.id);
    await assert.rejects(
      client.responses.retrieve(created.id),
      (err) => err instanceof OpenAI.NotFoundError && err.status === 404,
    );
    await assert.rejects(client.responses.delete(created.id), OpenAI.NotFoundError);
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
