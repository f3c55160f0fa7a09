// Generate: a served model writes a system prompt, a JSON schema or a function definition
// from a task description. Small models write unreliable JSON Schema, so the model fills
// a fixed, flat shape through structured outputs (always valid), and the dashboard turns
// that shape into the schema or function; the result stays editable. Documented in
// docs/dashboard.md ("Generate").

export type GenerateKind = "prompt" | "schema" | "function";

const FIELD = {
  type: "object",
  properties: {
    name: { type: "string", pattern: "^[a-z][a-z0-9_]{0,39}$" },
    type: { type: "string", enum: ["string", "number", "integer", "boolean"] },
    description: { type: "string", maxLength: 200 },
    required: { type: "boolean" },
  },
  required: ["name", "type", "description", "required"],
  additionalProperties: false,
};

const FIELDS = { type: "array", items: FIELD, minItems: 1, maxItems: 8 };

export const META_PROMPTS: Record<GenerateKind, { system: string; schema: Record<string, unknown> }> = {
  prompt: {
    system:
      "You write system prompts for a chat assistant. Given a task description, write one clear system prompt " +
      "in the second person (\"You are ...\") that states the assistant's role, what it must do, the format of its " +
      "answers and what it must not do. Be concise: at most 120 words. Answer with JSON: {\"prompt\": \"...\"}.",
    schema: {
      type: "object",
      properties: { prompt: { type: "string", maxLength: 800 } },
      required: ["prompt"],
      additionalProperties: false,
    },
  },
  schema: {
    system:
      "You design the JSON output of a task. Given a task description, name the output (snake_case) and list the " +
      "fields a program needs from the answer: each with a snake_case name, a type (string, number, integer or " +
      "boolean), a short description, and whether it is required. Use at most 8 fields. Answer with JSON.",
    schema: {
      type: "object",
      properties: { name: { type: "string", pattern: "^[a-z][a-z0-9_]{0,39}$" }, fields: FIELDS },
      required: ["name", "fields"],
      additionalProperties: false,
    },
  },
  function: {
    system:
      "You design a function (tool) a chat model can call. Given a task description, give the function a " +
      "snake_case name, a one-sentence description, and its parameters: each with a snake_case name, a type " +
      "(string, number, integer or boolean), a short description, and whether it is required. Use at most 8 " +
      "parameters. Answer with JSON.",
    schema: {
      type: "object",
      properties: {
        name: { type: "string", pattern: "^[a-z][a-z0-9_]{0,39}$" },
        description: { type: "string", maxLength: 300 },
        parameters: FIELDS,
      },
      required: ["name", "description", "parameters"],
      additionalProperties: false,
    },
  },
};

interface FieldSpec {
  name: string;
  type: string;
  description: string;
  required: boolean;
}

function objectSchema(fields: FieldSpec[]): Record<string, unknown> {
  const properties: Record<string, unknown> = {};
  for (const f of fields) properties[f.name] = { type: f.type, description: f.description };
  return {
    type: "object",
    properties,
    required: fields.filter((f) => f.required).map((f) => f.name),
    additionalProperties: false,
  };
}

/** The text to put in the playground from the model's JSON answer. */
export function render(kind: GenerateKind, answer: string): string {
  const out = JSON.parse(answer) as Record<string, unknown>;
  if (kind === "prompt") return String(out.prompt ?? "");
  if (kind === "schema") return JSON.stringify(objectSchema(out.fields as FieldSpec[]), null, 2);
  return JSON.stringify(
    {
      type: "function",
      function: { name: out.name, description: out.description, parameters: objectSchema(out.parameters as FieldSpec[]) },
    },
    null,
    2,
  );
}

/** The chat request that asks `model` for `kind` from `task`. */
export function request(kind: GenerateKind, model: string, task: string): Record<string, unknown> {
  const meta = META_PROMPTS[kind];
  return {
    model,
    messages: [
      { role: "system", content: meta.system },
      { role: "user", content: `Task: ${task}` },
    ],
    temperature: 0.2,
    max_tokens: 600,
    response_format: { type: "json_schema", json_schema: { name: `generate_${kind}`, schema: meta.schema, strict: true } },
  };
}
