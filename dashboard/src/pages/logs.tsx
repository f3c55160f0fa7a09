// Logs: stored chat completions and stored responses, filtered and paged by the server
// (never fetched whole), each with its messages (input items), output, usage and
// metadata; selected completions can be distilled into a fine-tuning file or evaluated
// against a grader.
import { useEffect, useState } from "preact/hooks";
import { api, type ChatCompletion, type ChatMessage, type FileObject, type Eval, type EvalRun, type Page } from "../api";
import type { PageProps } from "../app";
import { CriterionEditor, criterionTemplate } from "./evals";
import { ErrorBox, Field, go, href, Json, Loading, messageText, metadataQuery, Pager, pairs, Section, Status, Table, useAction, useAsync, usePager } from "../ui";

interface Stored extends ChatCompletion {
  metadata?: Record<string, string> | null;
}

export function Logs({ route }: PageProps) {
  const id = route.parts[1];
  if (id?.startsWith("resp_")) return <ResponseDetail id={id} />;
  if (id) return <LogDetail id={id} />;
  return <LogList query={route.query} />;
}

type Source = "completions" | "responses";

// the filters live in the address (#/logs?model=&metadata=k%3Dv&limit=), so coming back
// from a completion's page, or sharing the link, keeps them
function LogList({ query }: { query: URLSearchParams }) {
  const source: Source = query.get("source") === "responses" ? "responses" : "completions";
  const applied = { model: query.get("model") ?? "", metadata: query.get("metadata") ?? "" };
  const limit = Number(query.get("limit") ?? 20) || 20;
  const filter = pairs(applied.metadata.replace(/,/g, "\n"));
  const [model, setModel] = useState(applied.model);
  const [filterText, setFilterText] = useState(applied.metadata);
  useEffect(() => {
    setModel(applied.model);
    setFilterText(applied.metadata);
  }, [applied.model, applied.metadata]);
  const apply = (patch: { model?: string; metadata?: string; limit?: number; source?: Source }) =>
    go(["logs"], {
      source: (patch.source ?? source) === "responses" ? "responses" : undefined,
      model: (patch.model ?? applied.model) || undefined,
      metadata: (patch.metadata ?? applied.metadata) || undefined,
      limit: String(patch.limit ?? limit),
    });
  const pager = usePager([applied.model, applied.metadata, limit, source]);
  const list = useAsync(
    (signal) =>
      source === "completions"
        ? api<Page<Stored>>("/v1/chat/completions", {
            signal,
            query: { model: applied.model || undefined, limit, order: "desc", after: pager.after, ...metadataQuery(filter) },
          })
        : Promise.resolve(undefined),
    [applied.model, applied.metadata, limit, pager.after, source],
  );
  const [tick, setTick] = useState(0);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const toggle = (id: string, on: boolean) => {
    const next = new Set(selected);
    if (on) next.add(id);
    else next.delete(id);
    setSelected(next);
  };
  const rows = list.data?.data ?? [];
  const [mode, setMode] = useState<"distill" | "evaluate" | null>(null);
  return (
    <>
      <nav class="tabs" aria-label="Stored">
        {(
          [
            ["completions", "Chat completions"],
            ["responses", "Responses"],
          ] as const
        ).map(([value, label]) => (
          <a
            key={value}
            class="tab"
            href={href(["logs"], { source: value === "responses" ? value : undefined, model: applied.model, metadata: applied.metadata })}
            aria-current={source === value ? "page" : undefined}
          >
            {label}
          </a>
        ))}
      </nav>
      <form
        class="card filters"
        aria-label="Filters"
        onSubmit={(e) => {
          e.preventDefault();
          apply({ model: model.trim(), metadata: filterText.trim() });
        }}
      >
        <Field label="Model">
          <input value={model} onInput={(e) => setModel(e.currentTarget.value)} placeholder="any" />
        </Field>
        <Field label="Metadata filter" hint="key=value, comma separated">
          <input value={filterText} onInput={(e) => setFilterText(e.currentTarget.value)} placeholder="task=triage" />
        </Field>
        <Field label="Rows per page">
          <select value={limit} onChange={(e) => apply({ limit: Number(e.currentTarget.value) })}>
            {[20, 50, 100].map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </Field>
        <button type="submit" class="primary">
          Apply filters
        </button>
        <button
          type="button"
          onClick={() => {
            list.reload();
            setTick((t) => t + 1);
          }}
        >
          Refresh
        </button>
      </form>
      {source === "responses" ? (
        <ResponseList model={applied.model} filter={filter} limit={limit} pager={pager} tick={tick} />
      ) : (
        <>
          <ErrorBox error={list.error} />
          <Section
            title="Stored completions"
            actions={
              <>
                <span class="muted" role="status">
                  {selected.size} selected
                </span>
                <button type="button" disabled={selected.size === 0} onClick={() => setMode("distill")}>
                  Distill…
                </button>
                <button type="button" disabled={selected.size === 0} onClick={() => setMode("evaluate")}>
                  Evaluate…
                </button>
              </>
            }
          >
            {mode === "distill" && <Distill ids={[...selected]} onClose={() => setMode(null)} />}
            {mode === "evaluate" && <Evaluate ids={[...selected]} metadata={filter} onClose={() => setMode(null)} />}
            <Loading when={list.loading && !list.data} />
            <Table
              class="logs-table"
              head={[
                <input
                  key="all"
                  type="checkbox"
                  aria-label="Select all on this page"
                  checked={rows.length > 0 && rows.every((r) => selected.has(r.id))}
                  onChange={(e) => {
                    const next = new Set(selected);
                    for (const r of rows) e.currentTarget.checked ? next.add(r.id) : next.delete(r.id);
                    setSelected(next);
                  }}
                />,
                "Completion",
                "Created",
                "Model",
                "Output",
                "Tokens",
                "Metadata",
              ]}
            >
              {rows.map((r) => (
                <tr key={r.id}>
                  <td>
                    <input type="checkbox" aria-label={`Select ${r.id}`} checked={selected.has(r.id)} onChange={(e) => toggle(r.id, e.currentTarget.checked)} />
                  </td>
                  <td>
                    <a href={href(["logs", r.id])}>{r.id}</a>
                  </td>
                  <td>{new Date(r.created * 1000).toLocaleString()}</td>
                  <td>{r.model}</td>
                  <td class="clip">{messageText(r.choices[0]?.message.content).slice(0, 120)}</td>
                  <td>{r.usage?.total_tokens ?? ""}</td>
                  <td class="clip">
                    {Object.entries(r.metadata ?? {})
                      .map(([k, v]) => `${k}=${v}`)
                      .join(", ")}
                  </td>
                </tr>
              ))}
            </Table>
            {list.data && rows.length === 0 && <p class="muted">No stored completions match. Chat completions created with store=true appear here.</p>}
            <Pager page={list.data} pager={pager} label="Stored completions" />
          </Section>
        </>
      )}
    </>
  );
}

function ResponseList({ model, filter, limit, pager, tick }: { model: string; filter: Record<string, string>; limit: number; pager: ReturnType<typeof usePager>; tick: number }) {
  const list = useAsync(
    (signal) =>
      api<Page<StoredResponse>>("/v1/responses", { signal, query: { model: model || undefined, limit, order: "desc", after: pager.after, ...metadataQuery(filter) } }),
    [model, JSON.stringify(filter), limit, pager.after, tick],
  );
  const rows = list.data?.data ?? [];
  return (
    <>
      <ErrorBox error={list.error} />
      <Section title="Stored responses">
        <Loading when={list.loading && !list.data} />
        <Table class="logs-table" head={["Response", "Created", "Model", "Status", "Output", "Tokens", "Metadata"]}>
          {rows.map((r) => (
            <tr key={r.id}>
              <td>
                <a href={href(["logs", r.id])}>{r.id}</a>
              </td>
              <td>{new Date(r.created_at * 1000).toLocaleString()}</td>
              <td>{r.model}</td>
              <td>
                <Status value={r.status} />
              </td>
              <td class="clip">{outputText(r).slice(0, 120)}</td>
              <td>{r.usage?.total_tokens ?? ""}</td>
              <td class="clip">
                {Object.entries(r.metadata ?? {})
                  .map(([k, v]) => `${k}=${v}`)
                  .join(", ")}
              </td>
            </tr>
          ))}
        </Table>
        {list.data && rows.length === 0 && <p class="muted">No stored responses match. Responses created with store (the default) appear here.</p>}
        <Pager page={list.data} pager={pager} label="Stored responses" />
      </Section>
    </>
  );
}

interface ResponseItem {
  id?: string;
  type: string;
  role?: string;
  content?: unknown;
  name?: string;
  arguments?: string;
  output?: unknown;
  [k: string]: unknown;
}

interface StoredResponse {
  id: string;
  created_at: number;
  model: string;
  status: string;
  instructions?: unknown;
  output: ResponseItem[];
  usage?: { input_tokens: number; output_tokens: number; total_tokens: number } | null;
  metadata?: Record<string, string> | null;
  error?: { message: string } | null;
}

/** The text of message items (what the SDK's `output_text` joins). */
function itemsText(items: ResponseItem[]): string {
  return items
    .filter((i) => i.type === "message")
    .map((i) => messageText(i.content))
    .join("\n");
}

const outputText = (r: StoredResponse) => itemsText(r.output ?? []);

function ResponseDetail({ id }: { id: string }) {
  const data = useAsync(
    async (signal) => {
      const path = `/v1/responses/${encodeURIComponent(id)}`;
      const [response, input] = await Promise.all([
        api<StoredResponse>(path, { signal }),
        api<Page<ResponseItem>>(`${path}/input_items`, { signal, query: { limit: 100, order: "asc" } }),
      ]);
      return { response, input: input.data };
    },
    [id],
  );
  const r = data.data?.response;
  const item = (it: ResponseItem, n: number, output: boolean) => (
    <li key={`${output ? "out" : "in"}-${n}`} class={`turn ${it.role ?? "tool"}`}>
      <span class="role">
        {it.type === "message" ? it.role : it.type}
        {output ? " (output)" : ""}
      </span>
      {it.type === "message" ? <div class="content">{messageText(it.content)}</div> : <Json value={it} label={it.type} />}
    </li>
  );
  return (
    <>
      <p>
        <a href={href(["logs"], { source: "responses" })}>← All responses</a>
      </p>
      <ErrorBox error={data.error} />
      <Loading when={data.loading && !data.data} />
      {r && data.data && (
        <>
          <Section title={r.id}>
            <dl class="facts">
              <dt>Model</dt>
              <dd>{r.model}</dd>
              <dt>Status</dt>
              <dd>
                <Status value={r.status} />
              </dd>
              <dt>Created</dt>
              <dd>{new Date(r.created_at * 1000).toLocaleString()}</dd>
              <dt>Usage</dt>
              <dd>{r.usage ? `${r.usage.input_tokens} input + ${r.usage.output_tokens} output = ${r.usage.total_tokens} tokens` : "—"}</dd>
              <dt>Metadata</dt>
              <dd>{Object.keys(r.metadata ?? {}).length ? <Json value={r.metadata} label="Metadata" /> : "none"}</dd>
            </dl>
            {r.error && (
              <p class="error" role="alert">
                {r.error.message}
              </p>
            )}
            <a href={href(["playground"], { model: r.model })}>Open its model in the playground</a>
          </Section>
          <Section title="Input and output">
            <ol class="transcript">
              {typeof r.instructions === "string" && r.instructions && (
                <li class="turn system">
                  <span class="role">instructions</span>
                  <div class="content">{r.instructions}</div>
                </li>
              )}
              {data.data.input.map((it, n) => item(it, n, false))}
              {r.output.map((it, n) => item(it, n, true))}
            </ol>
          </Section>
        </>
      )}
    </>
  );
}

function LogDetail({ id }: { id: string }) {
  const data = useAsync(
    async (signal) => {
      const [completion, messages] = await Promise.all([
        api<Stored>(`/v1/chat/completions/${encodeURIComponent(id)}`, { signal }),
        api<Page<ChatMessage>>(`/v1/chat/completions/${encodeURIComponent(id)}/messages`, { signal, query: { limit: 100 } }),
      ]);
      return { completion, messages: messages.data };
    },
    [id],
  );
  const c = data.data?.completion;
  return (
    <>
      <p>
        <a href={href(["logs"])}>← All logs</a>
      </p>
      <ErrorBox error={data.error} />
      <Loading when={data.loading && !data.data} />
      {c && data.data && (
        <>
          <Section title={c.id}>
            <dl class="facts">
              <dt>Model</dt>
              <dd>{c.model}</dd>
              <dt>Created</dt>
              <dd>{new Date(c.created * 1000).toLocaleString()}</dd>
              <dt>Usage</dt>
              <dd>{c.usage ? `${c.usage.prompt_tokens} prompt + ${c.usage.completion_tokens} completion = ${c.usage.total_tokens} tokens` : "—"}</dd>
              <dt>Metadata</dt>
              <dd>{Object.keys(c.metadata ?? {}).length ? <Json value={c.metadata} label="Metadata" /> : "none"}</dd>
            </dl>
            <a href={href(["playground"], { model: c.model })}>Open its model in the playground</a>
          </Section>
          <Section title="Messages">
            <ol class="transcript">
              {data.data.messages.map((m, n) => (
                <li key={n} class={`turn ${m.role}`}>
                  <span class="role">{m.role}</span>
                  <div class="content">{messageText(m.content)}</div>
                </li>
              ))}
              {c.choices.map((ch) => (
                <li key={`out-${ch.index}`} class="turn assistant">
                  <span class="role">assistant (output, finish: {ch.finish_reason})</span>
                  <div class="content">{messageText(ch.message.content)}</div>
                  {ch.message.tool_calls && <Json value={ch.message.tool_calls} label="Tool calls" />}
                </li>
              ))}
            </ol>
          </Section>
        </>
      )}
    </>
  );
}

/** One stored completion as its request's messages and its answer. */
async function conversation(id: string): Promise<{ completion: Stored; messages: ChatMessage[] }> {
  const path = `/v1/chat/completions/${encodeURIComponent(id)}`;
  const completion = await api<Stored>(path);
  const messages: ChatMessage[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await api<Page<ChatMessage>>(`${path}/messages`, { query: { limit: 100, after } });
    messages.push(...page.data);
    if (!page.has_more || !page.last_id) break;
    after = page.last_id;
  }
  return { completion, messages };
}

function plain(m: ChatMessage): Record<string, unknown> {
  const out: Record<string, unknown> = { role: m.role, content: messageText(m.content) };
  if (m.tool_calls?.length) out.tool_calls = m.tool_calls;
  if (m.name) out.name = m.name;
  return out;
}

function Distill({ ids, onClose }: { ids: string[]; onClose: () => void }) {
  const [dropSystem, setDropSystem] = useState(false);
  const [uploaded, setUploaded] = useState<FileObject | null>(null);
  const action = useAction();
  const distill = () =>
    action.run(async () => {
      const lines: string[] = [];
      for (const id of ids) {
        const { completion, messages } = await conversation(id);
        const kept = messages.filter((m) => !(dropSystem && (m.role === "system" || m.role === "developer"))).map(plain);
        const answer = completion.choices[0]?.message;
        if (!answer) continue;
        lines.push(JSON.stringify({ messages: [...kept, plain({ ...answer, role: "assistant" })] }));
      }
      const form = new FormData();
      form.append("purpose", "fine-tune");
      form.append("file", new File([lines.join("\n") + "\n"], `distill-${ids.length}.jsonl`, { type: "application/jsonl" }));
      setUploaded(await api<FileObject>("/v1/files", { form }));
    });
  return (
    <div class="panel" role="region" aria-label="Distill">
      <h3>Distill {ids.length} completions into a fine-tuning file</h3>
      <p class="muted">Each completion becomes one training line: its request's messages and its stored answer, uploaded with purpose fine-tune.</p>
      <label class="check">
        <input type="checkbox" checked={dropSystem} onChange={(e) => setDropSystem(e.currentTarget.checked)} />
        Leave out system and developer messages (the student learns the prompt)
      </label>
      <div class="actions">
        <button type="button" class="primary" disabled={action.busy} onClick={() => void distill()}>
          {action.busy ? "Uploading…" : "Create training file"}
        </button>
        <button type="button" onClick={onClose}>
          Close
        </button>
      </div>
      <ErrorBox error={action.error} />
      {uploaded && (
        <p role="status">
          Uploaded <code>{uploaded.id}</code> ({uploaded.filename}).{" "}
          <a href={href(["fine-tuning"], { training_file: uploaded.id })}>Fine-tune on it</a>
        </p>
      )}
    </div>
  );
}

function Evaluate({ ids, metadata, onClose }: { ids: string[]; metadata: Record<string, string>; onClose: () => void }) {
  const [name, setName] = useState(`Logs eval (${ids.length} completions)`);
  const [criteria, setCriteria] = useState<string[]>([criterionTemplate("string_check")]);
  const action = useAction();
  const evaluate = () =>
    action.run(async () => {
      const testing = criteria.map((c, n) => {
        try {
          return JSON.parse(c) as unknown;
        } catch {
          throw new Error(`Criterion ${n + 1} is not valid JSON.`);
        }
      });
      const content = [];
      for (const id of ids) {
        const { completion, messages } = await conversation(id);
        const output = messageText(completion.choices[0]?.message.content);
        content.push({
          item: {
            id: completion.id,
            created_at: completion.created,
            model: completion.model,
            metadata: completion.metadata ?? {},
            input: messages.map(plain),
            output_text: output,
          },
          sample: { model: completion.model, choices: completion.choices, output_text: output },
        });
      }
      const ev = await api<Eval>("/v1/evals", {
        json: { name, data_source_config: { type: "stored_completions", metadata }, testing_criteria: testing },
      });
      const run = await api<EvalRun>(`/v1/evals/${ev.id}/runs`, {
        json: { name: "stored answers", data_source: { type: "jsonl", source: { type: "file_content", content } } },
      });
      go(["evals", ev.id, "runs", run.id]);
    });
  return (
    <div class="panel" role="region" aria-label="Evaluate">
      <h3>Evaluate {ids.length} completions</h3>
      <p>
        The eval's data source: stored completions{" "}
        {Object.keys(metadata).length
          ? `with metadata ${Object.entries(metadata)
              .map(([k, v]) => `${k}=${v}`)
              .join(", ")} (the current filter)`
          : "(no metadata filter: later runs over stored completions see them all)"}
        .
      </p>
      <p class="muted">
        Creates an eval over stored completions and one run that grades the selected completions' stored answers ({"{{sample.output_text}}"}); the item is the
        completion ({"{{item.input}}"}, {"{{item.metadata.key}}"}).
      </p>
      <Field label="Eval name">
        <input value={name} onInput={(e) => setName(e.currentTarget.value)} />
      </Field>
      <CriterionEditor criteria={criteria} onChange={setCriteria} />
      <div class="actions">
        <button type="button" class="primary" disabled={action.busy} onClick={() => void evaluate()}>
          {action.busy ? "Creating…" : "Create eval and run"}
        </button>
        <button type="button" onClick={onClose}>
          Close
        </button>
      </div>
      <ErrorBox error={action.error} />
    </div>
  );
}
