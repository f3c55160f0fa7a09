// Evals: list and create evals (data source config + testing criteria), start runs, a
// run's results (output items with pass/fail per criterion), two runs compared.
import { useState } from "preact/hooks";
import { api, isChatModel, type Eval, type EvalRun, type FileObject, type Model, type OutputItem, type Page } from "../api";
import type { PageProps } from "../app";
import { ErrorBox, Field, go, href, Json, Loading, messageText, Pager, pairs, parseJson, Section, Status, useAction, useAsync, usePager, usePoll, Table } from "../ui";

const GRADERS = ["string_check", "text_similarity", "label_model", "score_model", "multi"] as const;

const TEMPLATES: Record<string, Record<string, unknown>> = {
  string_check: { type: "string_check", name: "Exact match", input: "{{sample.output_text}}", operation: "eq", reference: "{{item.expected}}" },
  text_similarity: {
    type: "text_similarity",
    name: "Similar",
    input: "{{sample.output_text}}",
    reference: "{{item.expected}}",
    evaluation_metric: "fuzzy_match",
    pass_threshold: 0.8,
  },
  label_model: {
    type: "label_model",
    name: "Judge",
    model: "smollm2-135m-instruct",
    input: [
      { role: "system", content: "Label the answer as correct or incorrect." },
      { role: "user", content: "Question: {{item.input}}\nAnswer: {{sample.output_text}}" },
    ],
    labels: ["correct", "incorrect"],
    passing_labels: ["correct"],
  },
  score_model: {
    type: "score_model",
    name: "Score",
    model: "smollm2-135m-instruct",
    input: [
      { role: "system", content: "Score how well the answer answers the question, from 0 to 1." },
      { role: "user", content: "Question: {{item.input}}\nAnswer: {{sample.output_text}}" },
    ],
    range: [0, 1],
    pass_threshold: 0.5,
  },
  multi: {
    type: "multi",
    name: "Combined",
    graders: {
      exact: { type: "string_check", name: "exact", input: "{{sample.output_text}}", operation: "eq", reference: "{{item.expected}}" },
      close: { type: "text_similarity", name: "close", input: "{{sample.output_text}}", reference: "{{item.expected}}", evaluation_metric: "fuzzy_match" },
    },
    calculate_output: "max(exact, close)",
    pass_threshold: 0.8,
  },
};

export function criterionTemplate(type: string): string {
  return JSON.stringify(TEMPLATES[type], null, 2);
}

/** Testing criteria as editable JSON, one textarea each, started from a template per grader
 * type (the server checks them and names the field it refuses). */
export function CriterionEditor({ criteria, onChange }: { criteria: string[]; onChange: (c: string[]) => void }) {
  const [type, setType] = useState<string>("string_check");
  return (
    <fieldset class="criteria">
      <legend>Testing criteria</legend>
      {criteria.map((c, n) => (
        <div key={n} class="criterion">
          <Field label={`Criterion ${n + 1} (JSON)`} wide>
            <textarea rows={8} class="mono" value={c} onInput={(e) => onChange(criteria.map((x, i) => (i === n ? e.currentTarget.value : x)))} />
          </Field>
          <button type="button" onClick={() => onChange(criteria.filter((_, i) => i !== n))}>
            Remove criterion {n + 1}
          </button>
        </div>
      ))}
      <div class="row">
        <Field label="Grader type">
          <select value={type} onChange={(e) => setType(e.currentTarget.value)}>
            {GRADERS.map((g) => (
              <option key={g} value={g}>
                {g}
              </option>
            ))}
          </select>
        </Field>
        <button type="button" onClick={() => onChange([...criteria, criterionTemplate(type)])}>
          Add criterion
        </button>
      </div>
      <p class="hint">
        Templates read {"{{item.*}}"} (the data row) and {"{{sample.output_text}}"} (the answer). Hearth refuses the python grader (docs/graders.md).
      </p>
    </fieldset>
  );
}

export function Evals({ route }: PageProps) {
  const [, id, sub, runId] = route.parts;
  if (id && sub === "runs" && runId) return <RunPage evalId={id} runId={runId} />;
  if (id && sub === "compare") return <Compare evalId={id} a={route.query.get("a") ?? ""} b={route.query.get("b") ?? ""} />;
  if (id) return <EvalPage id={id} />;
  return <EvalList />;
}

function EvalList() {
  const pager = usePager([]);
  const list = useAsync((signal) => api<Page<Eval>>("/v1/evals", { signal, query: { limit: 20, order: "desc", after: pager.after } }), [pager.after]);
  const [creating, setCreating] = useState(false);
  return (
    <>
      <ErrorBox error={list.error} />
      <Section
        title="Evals"
        actions={
          <button type="button" class="primary" onClick={() => setCreating(!creating)} aria-expanded={creating}>
            Create eval
          </button>
        }
      >
        {creating && <CreateEval />}
        <Loading when={list.loading && !list.data} />
        <Table head={["Name", "Id", "Data source", "Criteria", "Created"]}>
          {(list.data?.data ?? []).map((e) => (
            <tr key={e.id}>
              <td>
                <a href={href(["evals", e.id])}>{e.name || e.id}</a>
              </td>
              <td>
                <code>{e.id}</code>
              </td>
              <td>{e.data_source_config.type}</td>
              <td>{e.testing_criteria.map((c) => c.name).join(", ")}</td>
              <td>{new Date(e.created_at * 1000).toLocaleString()}</td>
            </tr>
          ))}
        </Table>
        {list.data && list.data.data.length === 0 && <p class="muted">No evals yet.</p>}
        <Pager page={list.data} pager={pager} label="Evals" />
      </Section>
    </>
  );
}

const DEFAULT_ITEM_SCHEMA = JSON.stringify(
  { type: "object", properties: { input: { type: "string" }, expected: { type: "string" } }, required: ["input", "expected"] },
  null,
  2,
);

function CreateEval() {
  const [name, setName] = useState("");
  const [kind, setKind] = useState<"custom" | "stored_completions">("custom");
  const [schema, setSchema] = useState(DEFAULT_ITEM_SCHEMA);
  const [includeSample, setIncludeSample] = useState(true);
  const [metadata, setMetadata] = useState("");
  const [criteria, setCriteria] = useState<string[]>([criterionTemplate("string_check")]);
  const action = useAction();
  const create = () =>
    action.run(async () => {
      const config =
        kind === "custom"
          ? { type: "custom", item_schema: parseJson(schema, "The item schema"), include_sample_schema: includeSample }
          : { type: "stored_completions", metadata: pairs(metadata.replace(/,/g, "\n")) };
      const testing = criteria.map((c, n) => parseJson(c, `Criterion ${n + 1}`));
      const ev = await api<Eval>("/v1/evals", { json: { name: name || undefined, data_source_config: config, testing_criteria: testing } });
      go(["evals", ev.id]);
    });
  return (
    <form
      class="panel"
      aria-label="Create eval"
      onSubmit={(e) => {
        e.preventDefault();
        void create();
      }}
    >
      <Field label="Eval name">
        <input value={name} onInput={(e) => setName(e.currentTarget.value)} />
      </Field>
      <Field label="Data source">
        <select value={kind} onChange={(e) => setKind(e.currentTarget.value as typeof kind)}>
          <option value="custom">custom (items you provide)</option>
          <option value="stored_completions">stored completions (Logs)</option>
        </select>
      </Field>
      {kind === "custom" ? (
        <>
          <Field label="Item schema (JSON Schema)" wide>
            <textarea rows={6} class="mono" value={schema} onInput={(e) => setSchema(e.currentTarget.value)} />
          </Field>
          <label class="check">
            <input type="checkbox" checked={includeSample} onChange={(e) => setIncludeSample(e.currentTarget.checked)} />
            Include the sample schema (runs generate answers)
          </label>
        </>
      ) : (
        <Field label="Metadata filter" hint="key=value, comma separated">
          <input value={metadata} onInput={(e) => setMetadata(e.currentTarget.value)} />
        </Field>
      )}
      <CriterionEditor criteria={criteria} onChange={setCriteria} />
      <button type="submit" class="primary" disabled={action.busy}>
        Create
      </button>
      <ErrorBox error={action.error} />
    </form>
  );
}

const ACTIVE = new Set(["queued", "in_progress"]);

function EvalPage({ id }: { id: string }) {
  const ev = useAsync((signal) => api<Eval>(`/v1/evals/${encodeURIComponent(id)}`, { signal }), [id]);
  const pager = usePager([id]);
  const runs = useAsync(
    (signal) => api<Page<EvalRun>>(`/v1/evals/${encodeURIComponent(id)}/runs`, { signal, query: { limit: 20, order: "desc", after: pager.after } }),
    [id, pager.after],
  );
  usePoll(runs.reload, 2000, (runs.data?.data ?? []).some((r) => ACTIVE.has(r.status)));
  const [picked, setPicked] = useState<string[]>([]);
  const [starting, setStarting] = useState(false);
  return (
    <>
      <p>
        <a href={href(["evals"])}>← All evals</a>
      </p>
      <ErrorBox error={ev.error} />
      {ev.data && (
        <Section title={ev.data.name || ev.data.id}>
          <dl class="facts">
            <dt>Id</dt>
            <dd>
              <code>{ev.data.id}</code>
            </dd>
            <dt>Data source</dt>
            <dd>{ev.data.data_source_config.type}</dd>
            <dt>Criteria</dt>
            <dd>
              <details>
                <summary>{ev.data.testing_criteria.map((c) => `${c.name} (${c.type})`).join(", ")}</summary>
                <Json value={ev.data.testing_criteria} label="Testing criteria" />
              </details>
            </dd>
          </dl>
        </Section>
      )}
      <Section
        title="Runs"
        actions={
          <>
            <button type="button" class="primary" onClick={() => setStarting(!starting)} aria-expanded={starting}>
              Start run
            </button>
            <button type="button" disabled={picked.length !== 2} onClick={() => go(["evals", id, "compare"], { a: picked[0], b: picked[1] })}>
              Compare 2 runs
            </button>
          </>
        }
      >
        {starting && ev.data && <StartRun ev={ev.data} onStarted={() => (setStarting(false), runs.reload())} />}
        <ErrorBox error={runs.error} />
        <Table head={["Compare", "Run", "Status", "Model", "Passed", "Failed", "Errored", "Created"]}>
          {(runs.data?.data ?? []).map((r) => (
            <tr key={r.id}>
              <td>
                <input
                  type="checkbox"
                  aria-label={`Pick ${r.name || r.id} to compare`}
                  checked={picked.includes(r.id)}
                  onChange={(e) => setPicked(e.currentTarget.checked ? [...picked, r.id].slice(-2) : picked.filter((p) => p !== r.id))}
                />
              </td>
              <td>
                <a href={href(["evals", id, "runs", r.id])}>{r.name || r.id}</a>
              </td>
              <td>
                <Status value={r.status} />
              </td>
              <td>{r.model ?? "—"}</td>
              <td>{r.result_counts.passed}</td>
              <td>{r.result_counts.failed}</td>
              <td>{r.result_counts.errored}</td>
              <td>{new Date(r.created_at * 1000).toLocaleString()}</td>
            </tr>
          ))}
        </Table>
        {runs.data && runs.data.data.length === 0 && <p class="muted">No runs yet.</p>}
        <Pager page={runs.data} pager={pager} label="Runs" />
      </Section>
    </>
  );
}

const DEFAULT_ROWS = '{"item": {"input": "Say hello", "expected": "hello"}, "sample": {"model": "m", "choices": [], "output_text": "hello"}}\n';
const DEFAULT_MESSAGES = JSON.stringify([{ role: "user", content: "{{item.input}}" }], null, 2);

function StartRun({ ev, onStarted }: { ev: Eval; onStarted: () => void }) {
  const stored = ev.data_source_config.type !== "custom";
  const [kind, setKind] = useState<"jsonl" | "completions">(stored ? "completions" : "jsonl");
  const [source, setSource] = useState<"file_content" | "file_id" | "stored_completions">(stored ? "stored_completions" : "file_content");
  const [rows, setRows] = useState(DEFAULT_ROWS);
  const [fileId, setFileId] = useState("");
  const [model, setModel] = useState("");
  const [messages, setMessages] = useState(DEFAULT_MESSAGES);
  const [temperature, setTemperature] = useState("");
  const [maxTokens, setMaxTokens] = useState("128");
  const [limit, setLimit] = useState("");
  const [name, setName] = useState("");
  const models = useAsync((signal) => api<Page<Model>>("/v1/models", { signal }), []);
  const files = useAsync((signal) => api<Page<FileObject>>("/v1/files", { signal, query: { limit: 100 } }), []);
  const action = useAction();
  const start = () =>
    action.run(async () => {
      let src: Record<string, unknown>;
      if (source === "file_content") {
        const content = rows
          .split("\n")
          .filter((l) => l.trim())
          .map((l, n) => {
            const row = parseJson(l, `Line ${n + 1}`) as Record<string, unknown>;
            return "item" in row ? row : { item: row };
          });
        src = { type: "file_content", content };
      } else if (source === "file_id") src = { type: "file_id", id: fileId };
      else src = { type: "stored_completions", limit: limit ? Number(limit) : undefined };
      const dataSource: Record<string, unknown> = { type: kind, source: src };
      if (kind === "completions" && model) {
        dataSource.model = model;
        if (messages.trim()) dataSource.input_messages = { type: "template", template: parseJson(messages, "Input messages") };
        const sampling: Record<string, number> = {};
        if (temperature) sampling.temperature = Number(temperature);
        if (maxTokens) sampling.max_completion_tokens = Number(maxTokens);
        dataSource.sampling_params = sampling;
      }
      await api<EvalRun>(`/v1/evals/${ev.id}/runs`, { json: { name: name || undefined, data_source: dataSource } });
      onStarted();
    });
  const chat = (models.data?.data ?? []).filter((m) => isChatModel(m.id));
  return (
    <form
      class="panel"
      aria-label="Start run"
      onSubmit={(e) => {
        e.preventDefault();
        void start();
      }}
    >
      <div class="row">
        <Field label="Run name">
          <input value={name} onInput={(e) => setName(e.currentTarget.value)} placeholder="optional" />
        </Field>
        <Field label="Run type">
          <select value={kind} onChange={(e) => setKind(e.currentTarget.value as typeof kind)}>
            <option value="jsonl">jsonl (grade the rows' samples)</option>
            <option value="completions">completions (a model answers, or stored answers)</option>
          </select>
        </Field>
        <Field label="Rows from">
          <select value={source} onChange={(e) => setSource(e.currentTarget.value as typeof source)}>
            <option value="file_content">rows typed here</option>
            <option value="file_id">an uploaded file</option>
            {kind === "completions" && <option value="stored_completions">stored completions</option>}
          </select>
        </Field>
      </div>
      {source === "file_content" && (
        <Field label="Rows (JSONL: one item, or {item, sample}, per line)" wide>
          <textarea rows={5} class="mono" value={rows} onInput={(e) => setRows(e.currentTarget.value)} />
        </Field>
      )}
      {source === "file_id" && (
        <Field label="File">
          <select value={fileId} onChange={(e) => setFileId(e.currentTarget.value)}>
            <option value="">Choose a file</option>
            {(files.data?.data ?? [])
              .filter((f) => f.purpose === "evals" || f.purpose === "user_data")
              .map((f) => (
                <option key={f.id} value={f.id}>
                  {f.filename} ({f.id})
                </option>
              ))}
          </select>
        </Field>
      )}
      {source === "stored_completions" && (
        <Field label="Most recent completions" hint="empty: all that match the eval's filter">
          <input type="number" min={1} value={limit} onInput={(e) => setLimit(e.currentTarget.value)} />
        </Field>
      )}
      {kind === "completions" && (
        <>
          <div class="row">
            <Field label="Model" hint="none: grade stored answers as they are">
              <select value={model} onChange={(e) => setModel(e.currentTarget.value)}>
                <option value="">none</option>
                {chat.map((m) => (
                  <option key={m.id} value={m.id}>
                    {m.id}
                  </option>
                ))}
              </select>
            </Field>
            <Field label="Temperature">
              <input type="number" min={0} max={2} step={0.1} value={temperature} onInput={(e) => setTemperature(e.currentTarget.value)} />
            </Field>
            <Field label="Max completion tokens">
              <input type="number" min={1} value={maxTokens} onInput={(e) => setMaxTokens(e.currentTarget.value)} />
            </Field>
          </div>
          {model && (
            <Field label="Input messages (JSON template over {{item.*}}; empty: the stored input)" wide>
              <textarea rows={4} class="mono" value={messages} onInput={(e) => setMessages(e.currentTarget.value)} />
            </Field>
          )}
        </>
      )}
      <button type="submit" class="primary" disabled={action.busy}>
        Start
      </button>
      <ErrorBox error={action.error} />
    </form>
  );
}

function RunPage({ evalId, runId }: { evalId: string; runId: string }) {
  const base = `/v1/evals/${encodeURIComponent(evalId)}/runs/${encodeURIComponent(runId)}`;
  const run = useAsync((signal) => api<EvalRun>(base, { signal }), [base]);
  const [status, setStatus] = useState("");
  const pager = usePager([base, status]);
  const items = useAsync(
    (signal) => api<Page<OutputItem>>(`${base}/output_items`, { signal, query: { limit: 50, after: pager.after, status: status || undefined } }),
    [base, pager.after, status],
  );
  const active = run.data ? ACTIVE.has(run.data.status) : false;
  usePoll(
    () => {
      run.reload();
      items.reload();
    },
    1500,
    active,
  );
  const cancel = useAction();
  const criteria = run.data?.per_testing_criteria_results?.map((c) => c.testing_criteria) ?? [];
  return (
    <>
      <p>
        <a href={href(["evals", evalId])}>← The eval's runs</a>
      </p>
      <ErrorBox error={run.error} />
      {run.data && (
        <Section
          title={`Run ${run.data.name || run.data.id}`}
          actions={
            active && (
              <button type="button" disabled={cancel.busy} onClick={() => void cancel.run(() => api(`${base}/cancel`, { method: "POST" }).then(run.reload))}>
                Cancel run
              </button>
            )
          }
        >
          <ErrorBox error={cancel.error} />
          <dl class="facts">
            <dt>Status</dt>
            <dd>
              <Status value={run.data.status} />
            </dd>
            <dt>Results</dt>
            <dd data-testid="run-counts">
              {run.data.result_counts.passed} passed, {run.data.result_counts.failed} failed, {run.data.result_counts.errored} errored of {run.data.result_counts.total}
            </dd>
            {run.data.error && (
              <>
                <dt>Error</dt>
                <dd class="error">{run.data.error.message}</dd>
              </>
            )}
          </dl>
          {(run.data.per_testing_criteria_results ?? []).length > 0 && (
            <table>
              <caption>Per criterion</caption>
              <thead>
                <tr>
                  <th scope="col">Criterion</th>
                  <th scope="col">Passed</th>
                  <th scope="col">Failed</th>
                </tr>
              </thead>
              <tbody>
                {(run.data.per_testing_criteria_results ?? []).map((c) => (
                  <tr key={c.testing_criteria}>
                    <td>{c.testing_criteria}</td>
                    <td>{c.passed}</td>
                    <td>{c.failed}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </Section>
      )}
      <Section
        title="Output items"
        actions={
          <Field label="Show">
            <select value={status} onChange={(e) => setStatus(e.currentTarget.value)}>
              <option value="">all</option>
              <option value="pass">pass</option>
              <option value="fail">fail</option>
              <option value="error">error</option>
            </select>
          </Field>
        }
      >
        <ErrorBox error={items.error} />
        <Loading when={items.loading && !items.data} />
        <Table class="results" head={["#", "Item", "Output", "Status", ...criteria.map((c) => c.replace(/-[0-9a-f-]{36}$/, ""))]}>
          {(items.data?.data ?? []).map((it) => (
            <tr key={it.id}>
              <td>{it.datasource_item_id}</td>
              <td class="clip">{JSON.stringify(it.datasource_item).slice(0, 160)}</td>
              <td class="clip">{it.sample?.error?.message ?? messageText(it.sample?.output?.[0]?.content ?? "")}</td>
              <td>
                <Status value={it.status} />
              </td>
              {criteria.map((c) => {
                const r = it.results.find((x) => x.name === c || (x as { id?: string }).id === c) ?? it.results[criteria.indexOf(c)];
                return <td key={c}>{r ? `${r.passed ? "pass" : "fail"} (${Number(r.score).toFixed(2)})` : "—"}</td>;
              })}
            </tr>
          ))}
        </Table>
        {items.data && items.data.data.length === 0 && <p class="muted">{active ? "Grading…" : "No output items."}</p>}
        <Pager page={items.data} pager={pager} label="Output items" />
      </Section>
    </>
  );
}

async function allItems(base: string, cap = 500): Promise<OutputItem[]> {
  const out: OutputItem[] = [];
  let after: string | undefined;
  while (out.length < cap) {
    const page = await api<Page<OutputItem>>(`${base}/output_items`, { query: { limit: 100, after } });
    out.push(...page.data);
    if (!page.has_more || !page.last_id) break;
    after = page.last_id;
  }
  return out;
}

function Compare({ evalId, a, b }: { evalId: string; a: string; b: string }) {
  const base = (r: string) => `/v1/evals/${encodeURIComponent(evalId)}/runs/${encodeURIComponent(r)}`;
  const data = useAsync(async () => {
    const [ra, rb, ia, ib] = await Promise.all([api<EvalRun>(base(a)), api<EvalRun>(base(b)), allItems(base(a)), allItems(base(b))]);
    return { ra, rb, ia, ib };
  }, [evalId, a, b]);
  const d = data.data;
  const byRow = new Map<number, { a?: OutputItem; b?: OutputItem }>();
  for (const it of d?.ia ?? []) byRow.set(it.datasource_item_id, { ...byRow.get(it.datasource_item_id), a: it });
  for (const it of d?.ib ?? []) byRow.set(it.datasource_item_id, { ...byRow.get(it.datasource_item_id), b: it });
  const rows = [...byRow.entries()].sort((x, y) => x[0] - y[0]);
  const score = (r: EvalRun) => (r.result_counts.total ? `${((100 * r.result_counts.passed) / r.result_counts.total).toFixed(1)}% passed` : "no rows");
  return (
    <>
      <p>
        <a href={href(["evals", evalId])}>← The eval's runs</a>
      </p>
      <ErrorBox error={data.error} />
      <Loading when={data.loading && !d} />
      {d && (
        <Section title="Two runs compared">
          <table>
            <thead>
              <tr>
                <th scope="col">#</th>
                <th scope="col">Item</th>
                <th scope="col">
                  {d.ra.name || d.ra.id} ({score(d.ra)})
                </th>
                <th scope="col">
                  {d.rb.name || d.rb.id} ({score(d.rb)})
                </th>
              </tr>
            </thead>
            <tbody>
              {rows.map(([n, pair]) => (
                <tr key={n} class={pair.a?.status !== pair.b?.status ? "differs" : ""}>
                  <td>{n}</td>
                  <td class="clip">{JSON.stringify((pair.a ?? pair.b)?.datasource_item).slice(0, 120)}</td>
                  {[pair.a, pair.b].map((it, k) => (
                    <td key={k}>
                      {it ? <Status value={it.status} /> : "—"} <span class="clip">{messageText(it?.sample?.output?.[0]?.content ?? "").slice(0, 120)}</span>
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </Section>
      )}
    </>
  );
}
