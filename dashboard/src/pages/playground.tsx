// Playground: chat with any served model, one pane or two side by side (two models, or two
// settings), streamed over SSE, with logprobs per token, structured outputs, tools, code
// for the current request (each pane's when comparing) and Generate (a model writes the
// prompt, schema or function).
import { useEffect, useId, useRef, useState } from "preact/hooks";
import {
  api,
  isChatModel,
  message as errorMessage,
  stream,
  type ChatChunk,
  type ChatCompletion,
  type Model,
  type Page,
  type TokenLogprob,
  type Usage,
} from "../api";
import type { PageProps } from "../app";
import { curl, node, python } from "../codegen";
import { render as renderGenerated, request as generateRequest, type GenerateKind } from "../meta-prompts";
import { MicButton, SpeakButton } from "../audio";
import { CopyButton, ErrorBox, Field, messageText, parseJson, useAction, useAsync } from "../ui";

interface Settings {
  model: string;
  temperature: string;
  top_p: string;
  max_tokens: string;
  seed: string;
  stop: string;
  stream: boolean;
  logprobs: boolean;
  format: "text" | "json_schema";
  schemaName: string;
  schema: string;
}

interface Turn {
  role: "user" | "assistant";
  content: string;
  logprobs?: TokenLogprob[];
  toolCalls?: unknown[];
  usage?: Usage | null;
  finish?: string | null;
  error?: string;
  ms?: number;
}

interface State {
  system: string;
  systemRole: "system" | "developer";
  tools: string;
  store: boolean;
  compare: boolean;
  panes: [Settings, Settings];
  transcripts: [Turn[], Turn[]];
  input: string;
}

const DEFAULT_SCHEMA = JSON.stringify(
  {
    type: "object",
    properties: { answer: { type: "string" }, confidence: { type: "string", enum: ["low", "medium", "high"] } },
    required: ["answer", "confidence"],
    additionalProperties: false,
  },
  null,
  2,
);

function defaults(model: string): Settings {
  return {
    model,
    temperature: "",
    top_p: "",
    max_tokens: "256",
    seed: "",
    stop: "",
    stream: true,
    logprobs: false,
    format: "text",
    schemaName: "output",
    schema: DEFAULT_SCHEMA,
  };
}

// the page's state survives moving to another page and back
let memory: State | undefined;

/** The JSON schema textarea as an object schema; throws a readable Error otherwise. */
export function checkSchema(text: string): Record<string, unknown> {
  const schema = parseJson(text, "The JSON schema");
  if (!schema || typeof schema !== "object" || Array.isArray(schema)) throw new Error("The JSON schema must be a JSON object.");
  const s = schema as Record<string, unknown>;
  if (s.type !== "object") throw new Error('The JSON schema must describe an object: its "type" must be "object".');
  return s;
}

function checkTools(text: string): unknown[] | undefined {
  if (!text.trim()) return undefined;
  const tools = parseJson(text, "Tools");
  const list = Array.isArray(tools) ? tools : [tools];
  for (const t of list) {
    if (!t || typeof t !== "object" || (t as { type?: unknown }).type !== "function")
      throw new Error('Tools must be a function definition or a JSON array of them ({"type": "function", "function": {...}}).');
  }
  return list;
}

function number(text: string, name: string): number | undefined {
  if (!text.trim()) return undefined;
  const n = Number(text);
  if (!Number.isFinite(n)) throw new Error(`${name} must be a number.`);
  return n;
}

/** The chat request body a pane sends for `turns`. */
export function requestBody(state: State, settings: Settings, turns: Turn[]): Record<string, unknown> {
  const messages: Array<Record<string, unknown>> = [];
  if (state.system.trim()) messages.push({ role: state.systemRole, content: state.system });
  for (const t of turns) if (!t.error) messages.push({ role: t.role, content: t.content });
  const body: Record<string, unknown> = { model: settings.model, messages };
  const put = (key: string, value: unknown) => value !== undefined && (body[key] = value);
  put("temperature", number(settings.temperature, "Temperature"));
  put("top_p", number(settings.top_p, "Top P"));
  put("max_tokens", number(settings.max_tokens, "Max tokens"));
  put("seed", number(settings.seed, "Seed"));
  const stop = settings.stop.split("\n").filter((s) => s.length > 0);
  if (stop.length) body.stop = stop.map((s) => s.replace(/\\n/g, "\n"));
  if (settings.logprobs) {
    body.logprobs = true;
    body.top_logprobs = 5;
  }
  if (settings.format === "json_schema")
    body.response_format = {
      type: "json_schema",
      json_schema: { name: settings.schemaName.trim() || "output", schema: checkSchema(settings.schema), strict: true },
    };
  put("tools", checkTools(state.tools));
  if (state.store) body.store = true;
  if (settings.stream) {
    body.stream = true;
    body.stream_options = { include_usage: true };
  }
  return body;
}

export function Playground({ route }: PageProps) {
  const models = useAsync((signal) => api<Page<Model>>("/v1/models", { signal }), []);
  const chat = (models.data?.data ?? []).filter((m) => isChatModel(m.id)).map((m) => m.id);
  const asked = route.query.get("model") ?? undefined;
  const [state, setState] = useState<State>(
    () =>
      memory ?? {
        system: "",
        systemRole: "system",
        tools: "",
        store: true,
        compare: false,
        panes: [defaults(asked ?? ""), defaults(asked ?? "")],
        transcripts: [[], []],
        input: "",
      },
  );
  useEffect(() => {
    memory = state;
  }, [state]);
  // a model named in the address (#/playground?model=...), else the first chat model
  useEffect(() => {
    const pick = asked ?? (state.panes[0].model || chat[0]);
    if (!pick) return;
    setState((s) => ({
      ...s,
      panes: [
        { ...s.panes[0], model: asked ?? (s.panes[0].model || pick) },
        { ...s.panes[1], model: s.panes[1].model || pick },
      ],
    }));
  }, [asked, chat.length]); // eslint-disable-line react-hooks/exhaustive-deps

  const [busy, setBusy] = useState(false);
  const [formError, setFormError] = useState<unknown>();
  const [limits, setLimits] = useState<RateLimitHeaders | null>(null);
  const onResponse = (res: Response) => {
    const read = rateLimitHeaders(res.headers);
    if (read) setLimits(read);
  };
  const [code, setCode] = useState<"python" | "node" | "curl" | null>(null);
  const aborts = useRef<AbortController | null>(null);

  const setPane = (i: 0 | 1, patch: Partial<Settings>) =>
    setState((s) => {
      const panes = [...s.panes] as [Settings, Settings];
      panes[i] = { ...panes[i], ...patch };
      return { ...s, panes };
    });
  const updateTurn = (i: 0 | 1, index: number, patch: Partial<Turn>) =>
    setState((s) => {
      const transcripts = [...s.transcripts] as [Turn[], Turn[]];
      const list = [...transcripts[i]];
      list[index] = { ...list[index], ...patch };
      transcripts[i] = list;
      return { ...s, transcripts };
    });

  const active: Array<0 | 1> = state.compare ? [0, 1] : [0];

  const send = async () => {
    setFormError(undefined);
    const text = state.input;
    const bodies: Array<Record<string, unknown>> = [];
    try {
      for (const i of active) {
        if (!state.panes[i].model) throw new Error("Choose a model first.");
        bodies.push(requestBody(state, state.panes[i], [...state.transcripts[i], { role: "user", content: text }]));
      }
    } catch (e) {
      setFormError(e);
      return;
    }
    const ctrl = new AbortController();
    aborts.current = ctrl;
    setBusy(true);
    const starts = active.map((i) => state.transcripts[i].length);
    setState((s) => {
      const transcripts = [...s.transcripts] as [Turn[], Turn[]];
      for (const i of active) transcripts[i] = [...transcripts[i], { role: "user", content: text }, { role: "assistant", content: "" }];
      return { ...s, transcripts, input: "" };
    });
    await Promise.all(active.map((i, n) => run(i, starts[n] + 1, bodies[n], ctrl.signal)));
    setBusy(false);
    aborts.current = null;
  };

  const run = async (i: 0 | 1, index: number, body: Record<string, unknown>, signal: AbortSignal) => {
    const started = performance.now();
    try {
      if (body.stream) {
        let content = "";
        const logprobs: TokenLogprob[] = [];
        const toolCalls: Array<{ index?: number; function?: { name?: string; arguments?: string }; [k: string]: unknown }> = [];
        let finish: string | null = null;
        let usage: Usage | null = null;
        for await (const chunk of stream<ChatChunk>("/v1/chat/completions", { json: body, signal, onResponse })) {
          if (chunk.usage) usage = chunk.usage;
          const choice = chunk.choices[0];
          if (!choice) continue;
          if (choice.delta.content) content += choice.delta.content;
          if (choice.logprobs?.content) logprobs.push(...choice.logprobs.content);
          for (const call of (choice.delta.tool_calls ?? []) as typeof toolCalls) {
            const at = call.index ?? 0;
            const prev = toolCalls[at];
            if (!prev) toolCalls[at] = { ...call, function: { ...call.function } };
            else if (prev.function && call.function?.arguments) prev.function.arguments = (prev.function.arguments ?? "") + call.function.arguments;
          }
          if (choice.finish_reason) finish = choice.finish_reason;
          updateTurn(i, index, { content, logprobs: body.logprobs ? [...logprobs] : undefined, toolCalls: toolCalls.length ? [...toolCalls] : undefined });
        }
        updateTurn(i, index, { usage, finish, ms: performance.now() - started });
      } else {
        const out = await api<ChatCompletion>("/v1/chat/completions", { json: body, signal, onResponse });
        const choice = out.choices[0];
        updateTurn(i, index, {
          content: messageText(choice?.message.content),
          logprobs: choice?.logprobs?.content ?? undefined,
          toolCalls: choice?.message.tool_calls,
          usage: out.usage,
          finish: choice?.finish_reason,
          ms: performance.now() - started,
        });
      }
    } catch (e) {
      if (e instanceof DOMException && e.name === "AbortError") updateTurn(i, index, { finish: "stopped" });
      else updateTurn(i, index, { error: errorMessage(e) });
    }
  };

  // each active pane's next request (its conversation and the message being typed)
  const codeFor = (i: 0 | 1): string => {
    if (!code) return "";
    try {
      const body = requestBody(state, state.panes[i], [...state.transcripts[i], ...(state.input ? [{ role: "user" as const, content: state.input }] : [])]);
      return { python, node, curl }[code](body, location.origin);
    } catch (e) {
      return `# ${errorMessage(e)}`;
    }
  };

  const [generating, setGenerating] = useState<{ kind: GenerateKind; target: "system" | "schema" | "tools" } | null>(null);

  return (
    <div class="playground">
      <ErrorBox error={models.error} />
      <section class="card" aria-label="Prompt">
        <div class="row">
          <Field label="Instructions role">
            <select value={state.systemRole} onChange={(e) => setState({ ...state, systemRole: e.currentTarget.value as State["systemRole"] })}>
              <option value="system">system</option>
              <option value="developer">developer</option>
            </select>
          </Field>
          <label class="check">
            <input type="checkbox" checked={state.store} onChange={(e) => setState({ ...state, store: e.currentTarget.checked })} />
            Store in Logs
          </label>
          <label class="check">
            <input type="checkbox" checked={state.compare} onChange={(e) => setState({ ...state, compare: e.currentTarget.checked })} />
            Compare side by side
          </label>
        </div>
        <Field label="System message" wide>
          <textarea rows={3} value={state.system} onInput={(e) => setState({ ...state, system: e.currentTarget.value })} placeholder="You are a helpful assistant." />
        </Field>
        <div class="actions">
          <button type="button" onClick={() => setGenerating({ kind: "prompt", target: "system" })}>
            Generate system message…
          </button>
          <button type="button" onClick={() => setGenerating({ kind: "function", target: "tools" })}>
            Generate function…
          </button>
          <button type="button" onClick={() => setGenerating({ kind: "schema", target: "schema" })}>
            Generate JSON schema…
          </button>
        </div>
        {generating && (
          <Generator
            kind={generating.kind}
            models={chat}
            model={state.panes[0].model}
            onCancel={() => setGenerating(null)}
            onUse={(text) => {
              if (generating.target === "system") setState({ ...state, system: text });
              else if (generating.target === "schema") setPane(0, { schema: text, format: "json_schema" });
              else {
                const fn = JSON.parse(text) as unknown;
                let tools: unknown[] = [];
                try {
                  tools = state.tools.trim() ? (checkTools(state.tools) ?? []) : [];
                } catch {
                  tools = [];
                }
                setState({ ...state, tools: JSON.stringify([...tools, fn], null, 2) });
              }
              setGenerating(null);
            }}
          />
        )}
        <details open={state.tools.trim() !== ""}>
          <summary>Tools</summary>
          <Field label="Tools (JSON: function definitions)" wide>
            <textarea rows={6} class="mono" value={state.tools} onInput={(e) => setState({ ...state, tools: e.currentTarget.value })} placeholder='[{"type": "function", "function": {"name": "...", "parameters": {...}}}]' />
          </Field>
        </details>
      </section>

      <div class={state.compare ? "panes two" : "panes"}>
        {active.map((i) => (
          <Pane
            key={i}
            name={state.compare ? (i === 0 ? "A" : "B") : ""}
            models={chat}
            settings={state.panes[i]}
            onChange={(patch) => setPane(i, patch)}
            turns={state.transcripts[i]}
          />
        ))}
      </div>

      <form
        class="card composer"
        aria-label="Send a message"
        onSubmit={(e) => {
          e.preventDefault();
          if (!busy && state.input.trim()) void send();
        }}
      >
        <Field label="Message" wide>
          <textarea
            rows={3}
            value={state.input}
            onInput={(e) => setState({ ...state, input: e.currentTarget.value })}
            onKeyDown={(e) => {
              if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
                e.preventDefault();
                e.currentTarget.form?.requestSubmit();
              }
            }}
            placeholder="Ask something (Ctrl+Enter sends)"
          />
        </Field>
        <div class="actions">
          <button type="submit" class="primary" disabled={busy || !state.input.trim()}>
            Send
          </button>
          <button type="button" disabled={!busy} onClick={() => aborts.current?.abort()}>
            Stop
          </button>
          <button type="button" disabled={busy} onClick={() => setState({ ...state, transcripts: [[], []] })}>
            Clear conversation
          </button>
          <button type="button" aria-expanded={code !== null} onClick={() => setCode(code ? null : "python")}>
            View code
          </button>
          <MicButton disabled={busy} onText={(text) => setState((s) => ({ ...s, input: s.input.trim() ? `${s.input.trimEnd()} ${text}` : text }))} />
        </div>
        <ErrorBox error={formError} />
        {limits && <RateLimitLine limits={limits} />}
      </form>

      {code && (
        <section class="card" aria-label="Code">
          <div class="tabs" role="tablist" aria-label="Language">
            {(["python", "node", "curl"] as const).map((lang) => (
              <button key={lang} id={`code-tab-${lang}`} type="button" role="tab" aria-selected={code === lang} aria-controls="playground-code" onClick={() => setCode(lang)}>
                {{ python: "Python", node: "Node.js", curl: "curl" }[lang]}
              </button>
            ))}
          </div>
          <div id="playground-code" role="tabpanel" aria-labelledby={`code-tab-${code}`} class={state.compare ? "panes two" : "panes"}>
            {active.map((i) => {
              const name = state.compare ? (i === 0 ? " (A)" : " (B)") : "";
              const text = codeFor(i);
              return (
                <div key={i} class="code-pane">
                  {state.compare && <h3>Pane {i === 0 ? "A" : "B"}</h3>}
                  <CopyButton text={text} label={`Copy ${code} snippet${name}`} />
                  <pre class="code" role="group" tabIndex={0} aria-label={`${code} code${name}`}>
                    {text}
                  </pre>
                </div>
              );
            })}
          </div>
        </section>
      )}
    </div>
  );
}

function Pane({ name, models, settings, onChange, turns }: { name: string; models: string[]; settings: Settings; onChange: (p: Partial<Settings>) => void; turns: Turn[] }) {
  const l = (label: string) => (name ? `${label} (${name})` : label);
  let schemaError: string | undefined;
  if (settings.format === "json_schema") {
    try {
      checkSchema(settings.schema);
    } catch (e) {
      schemaError = errorMessage(e);
    }
  }
  return (
    <section class="card pane" aria-label={name ? `Pane ${name}` : "Conversation"}>
      <details open>
        <summary>{name ? `Settings ${name}` : "Settings"}</summary>
        <div class="grid">
          <Field label={l("Model")}>
            <select value={settings.model} onChange={(e) => onChange({ model: e.currentTarget.value })}>
              {!models.includes(settings.model) && settings.model && <option value={settings.model}>{settings.model}</option>}
              {models.map((m) => (
                <option key={m} value={m}>
                  {m}
                </option>
              ))}
            </select>
          </Field>
          <Field label={l("Temperature")}>
            <input type="number" min={0} max={2} step={0.1} value={settings.temperature} placeholder="1" onInput={(e) => onChange({ temperature: e.currentTarget.value })} />
          </Field>
          <Field label={l("Top P")}>
            <input type="number" min={0} max={1} step={0.05} value={settings.top_p} placeholder="1" onInput={(e) => onChange({ top_p: e.currentTarget.value })} />
          </Field>
          <Field label={l("Max tokens")}>
            <input type="number" min={1} step={1} value={settings.max_tokens} onInput={(e) => onChange({ max_tokens: e.currentTarget.value })} />
          </Field>
          <Field label={l("Seed")}>
            <input type="number" step={1} value={settings.seed} placeholder="random" onInput={(e) => onChange({ seed: e.currentTarget.value })} />
          </Field>
          <Field label={l("Stop sequences")} hint="one per line; \n for a newline">
            <textarea rows={2} value={settings.stop} onInput={(e) => onChange({ stop: e.currentTarget.value })} />
          </Field>
          <label class="check">
            <input type="checkbox" checked={settings.stream} onChange={(e) => onChange({ stream: e.currentTarget.checked })} />
            {l("Stream")}
          </label>
          <label class="check">
            <input type="checkbox" checked={settings.logprobs} onChange={(e) => onChange({ logprobs: e.currentTarget.checked })} />
            {l("Logprobs")}
          </label>
          <Field label={l("Response format")}>
            <select value={settings.format} onChange={(e) => onChange({ format: e.currentTarget.value as Settings["format"] })}>
              <option value="text">text</option>
              <option value="json_schema">JSON schema (structured output)</option>
            </select>
          </Field>
        </div>
        {settings.format === "json_schema" && (
          <>
            <Field label={l("Schema name")}>
              <input value={settings.schemaName} onInput={(e) => onChange({ schemaName: e.currentTarget.value })} />
            </Field>
            <Field label={l("JSON schema")} wide>
              <textarea rows={8} class="mono" value={settings.schema} onInput={(e) => onChange({ schema: e.currentTarget.value })} aria-invalid={schemaError ? true : undefined} />
            </Field>
            {schemaError && (
              <p class="error" role="alert">
                {schemaError}
              </p>
            )}
          </>
        )}
      </details>
      <ol class="transcript" aria-label={l("Messages")} aria-live="polite">
        {turns.map((t, n) => (
          <li key={n} class={`turn ${t.role}`}>
            <span class="role">{t.role}</span>
            {t.logprobs && t.logprobs.length > 0 ? <Tokens tokens={t.logprobs} /> : <div class="content">{t.content}</div>}
            {t.toolCalls && <pre class="json">{JSON.stringify(t.toolCalls, null, 2)}</pre>}
            {t.error && (
              <p class="error" role="alert">
                {t.error}
              </p>
            )}
            {t.role === "assistant" && (t.finish || t.usage) && !t.error && t.content.trim() && <SpeakButton text={t.content} label={`Play message ${n + 1}${l("")}`} />}
            {t.role === "assistant" && (t.usage || t.finish) && (
              <p class="meta muted">
                {t.finish && `finish: ${t.finish}`}
                {t.usage && ` · ${t.usage.prompt_tokens} prompt + ${t.usage.completion_tokens} completion tokens`}
                {t.ms !== undefined && ` · ${(t.ms / 1000).toFixed(2)} s`}
              </p>
            )}
          </li>
        ))}
      </ol>
    </section>
  );
}

/** Each token shaded by its probability; hovering or focusing one (Tab reaches each)
 * shows its logprob and the top alternatives in a tooltip the token points at. */
function Tokens({ tokens }: { tokens: TokenLogprob[] }) {
  const [shown, setShown] = useState<number | null>(null);
  const id = useId();
  return (
    <div class="content tokens" onMouseLeave={() => setShown(null)}>
      {tokens.map((t, n) => {
        const p = Math.exp(t.logprob);
        return (
          <span
            key={n}
            class={p < 0.3 ? "tok low" : p < 0.7 ? "tok mid" : "tok"}
            tabIndex={0}
            aria-describedby={shown === n ? `${id}-tip` : undefined}
            onMouseEnter={() => setShown(n)}
            onFocus={() => setShown(n)}
            onBlur={() => setShown((s) => (s === n ? null : s))}
            onKeyDown={(e) => e.key === "Escape" && setShown(null)}
          >
            {t.token}
            {shown === n && (
              <span class="tok-tip" role="tooltip" id={`${id}-tip`}>
                <strong>{JSON.stringify(t.token)}</strong>: logprob {t.logprob.toFixed(3)} ({(p * 100).toFixed(1)}%)
                {(t.top_logprobs ?? []).map((a, k) => (
                  <span key={k} class="alt">
                    {JSON.stringify(a.token)} {(Math.exp(a.logprob) * 100).toFixed(1)}%
                  </span>
                ))}
              </span>
            )}
          </span>
        );
      })}
    </div>
  );
}

function Generator({ kind, models, model, onUse, onCancel }: { kind: GenerateKind; models: string[]; model: string; onUse: (text: string) => void; onCancel: () => void }) {
  const [task, setTask] = useState("");
  const [using, setUsing] = useState(model);
  const [result, setResult] = useState("");
  const action = useAction();
  const what = { prompt: "a system message", schema: "a JSON schema", function: "a function definition" }[kind];
  const generate = () =>
    action.run(async () => {
      const out = await api<ChatCompletion>("/v1/chat/completions", { json: generateRequest(kind, using, task) });
      const text = messageText(out.choices[0]?.message.content);
      try {
        setResult(renderGenerated(kind, text));
      } catch {
        throw new Error(`The model's answer could not be read: ${text.slice(0, 200)}`);
      }
    });
  return (
    <form
      class="generator"
      aria-label={`Generate ${what}`}
      onSubmit={(e) => {
        e.preventDefault();
        void generate();
      }}
    >
      <h3>Generate {what}</h3>
      <Field label="Describe the task" wide>
        <textarea rows={2} value={task} onInput={(e) => setTask(e.currentTarget.value)} required />
      </Field>
      <Field label="Model that writes it">
        <select value={using} onChange={(e) => setUsing(e.currentTarget.value)}>
          {models.map((m) => (
            <option key={m} value={m}>
              {m}
            </option>
          ))}
        </select>
      </Field>
      <div class="actions">
        <button type="submit" class="primary" disabled={action.busy || !task.trim()}>
          {action.busy ? "Generating…" : "Generate"}
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
      <ErrorBox error={action.error} />
      {result && (
        <>
          <Field label="Result (edit before use)" wide>
            <textarea rows={8} class="mono" value={result} onInput={(e) => setResult(e.currentTarget.value)} />
          </Field>
          <button
            type="button"
            class="primary"
            onClick={() => {
              try {
                if (kind !== "prompt") JSON.parse(result);
                onUse(result);
              } catch (e) {
                action.setError(e);
              }
            }}
          >
            Use it
          </button>
        </>
      )}
    </form>
  );
}

interface RateLimitHeaders {
  limitRequests: string;
  remainingRequests: string;
  resetRequests: string;
  limitTokens: string;
  remainingTokens: string;
  resetTokens: string;
}

/** The `x-ratelimit-*` headers of a model response (null when it has none). */
function rateLimitHeaders(h: Headers): RateLimitHeaders | null {
  const get = (name: string) => h.get(`x-ratelimit-${name}`) ?? "";
  const out = {
    limitRequests: get("limit-requests"),
    remainingRequests: get("remaining-requests"),
    resetRequests: get("reset-requests"),
    limitTokens: get("limit-tokens"),
    remainingTokens: get("remaining-tokens"),
    resetTokens: get("reset-tokens"),
  };
  return out.limitRequests || out.limitTokens ? out : null;
}

function RateLimitLine({ limits }: { limits: RateLimitHeaders }) {
  const n = (v: string) => (v && !Number.isNaN(Number(v)) ? Number(v).toLocaleString() : v || "?");
  return (
    <p class="muted ratelimits" data-testid="rate-limits">
      Rate limits after the last request: {n(limits.remainingRequests)} of {n(limits.limitRequests)} requests left (resets in {limits.resetRequests || "?"}),{" "}
      {n(limits.remainingTokens)} of {n(limits.limitTokens)} tokens left (resets in {limits.resetTokens || "?"}).
    </p>
  );
}
