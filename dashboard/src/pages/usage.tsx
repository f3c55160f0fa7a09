// Usage (admin key): over the last 7 days or 24 hours, for all projects or one, each kind
// the API meters: completions (cost per day from `/costs`, tokens per bucket, a table by
// model), and embeddings, speech, transcription, code interpreter sessions, vector
// stores, moderations and images in their own units.
import { useState } from "preact/hooks";
import { api, bytes, buckets, type CompletionsUsage, type CostResult, type Page, type Project } from "../api";
import type { PageProps } from "../app";
import { AdminGate, Chart, ErrorBox, Field, Loading, Section, useAsync, Table } from "../ui";

type Range = "7d" | "24h";

const DAY = 86400;
const HOUR = 3600;

export function Usage(_: PageProps) {
  return (
    <AdminGate what="The Usage page">
      <Report />
    </AdminGate>
  );
}

interface Row {
  model: string;
  requests: number;
  input: number;
  cached: number;
  output: number;
  cost: number;
}

const number = (n: number) => n.toLocaleString();
const dollars = (n: number) => `$${n < 0.01 && n > 0 ? n.toPrecision(2) : n.toFixed(2)}`;

/** A usage kind besides completions: its one unit, summed per bucket (or, for vector
 * stores, the bytes stored at each bucket's end), grouped by model or by project. */
interface KindSpec {
  title: string;
  field: string;
  unit: string;
  /** `total-{id}`, the total's test id. */
  id: string;
  by: "model" | "project_id";
  requests: boolean;
  /** A level (bytes stored), not a count: the total is the last bucket's. */
  level?: boolean;
  format: (n: number) => string;
}

const KINDS: Record<string, KindSpec> = {
  embeddings: { title: "Embeddings", field: "input_tokens", unit: "Input tokens", id: "input", by: "model", requests: true, format: (n) => number(n) },
  audio_speeches: { title: "Audio speeches", field: "characters", unit: "Characters", id: "characters", by: "model", requests: true, format: (n) => number(n) },
  audio_transcriptions: {
    title: "Audio transcriptions",
    field: "seconds",
    unit: "Seconds of audio",
    id: "seconds",
    by: "model",
    requests: true,
    format: (n) => number(n),
  },
  code_interpreter_sessions: {
    title: "Code interpreter sessions",
    field: "num_sessions",
    unit: "Sessions",
    id: "sessions",
    by: "project_id",
    requests: false,
    format: (n) => number(n),
  },
  vector_stores: { title: "Vector stores", field: "usage_bytes", unit: "Bytes stored", id: "bytes", by: "project_id", requests: false, level: true, format: bytes },
  moderations: { title: "Moderations", field: "input_tokens", unit: "Input tokens", id: "input", by: "model", requests: true, format: (n) => number(n) },
  images: { title: "Images", field: "images", unit: "Images", id: "images", by: "model", requests: true, format: (n) => number(n) },
};

function Report() {
  const [range, setRange] = useState<Range>("7d");
  const [project, setProject] = useState("");
  const [kind, setKind] = useState("completions");
  const projects = useAsync((signal) => api<Page<Project>>("/v1/organization/projects", { admin: true, signal, query: { limit: 100 } }), []);
  const controls = (
    <div class="card row">
      <Field label="Kind">
        <select value={kind} onChange={(e) => setKind(e.currentTarget.value)}>
          <option value="completions">Completions (tokens, cost)</option>
          {Object.entries(KINDS).map(([k, spec]) => (
            <option key={k} value={k}>
              {spec.title} ({spec.unit.toLowerCase()})
            </option>
          ))}
        </select>
      </Field>
      <Field label="Period">
        <select value={range} onChange={(e) => setRange(e.currentTarget.value as Range)}>
          <option value="7d">Last 7 days (daily)</option>
          <option value="24h">Last 24 hours (hourly)</option>
        </select>
      </Field>
      <Field label="Project">
        <select value={project} onChange={(e) => setProject(e.currentTarget.value)}>
          <option value="">All projects</option>
          {(projects.data?.data ?? []).map((p) => (
            <option key={p.id} value={p.id}>
              {p.name}
            </option>
          ))}
        </select>
      </Field>
    </div>
  );
  const names = new Map((projects.data?.data ?? []).map((p) => [p.id, p.name]));
  return (
    <>
      {controls}
      <ErrorBox error={projects.error} />
      {kind === "completions" ? (
        <Completions range={range} project={project} />
      ) : (
        <KindReport key={kind} kind={kind} spec={KINDS[kind]} range={range} project={project} names={names} />
      )}
    </>
  );
}

/** The first bucket's start for `range`, and its bucket width. */
function span(range: Range): { start: number; width: string; step: number } {
  const now = Math.floor(Date.now() / 1000);
  const step = range === "7d" ? DAY : HOUR;
  return { start: Math.floor(now / step) * step - step * (range === "7d" ? 6 : 23), width: range === "7d" ? "1d" : "1h", step };
}

type KindResult = Record<string, unknown> & { num_model_requests?: number; model?: string | null; project_id?: string | null };

function KindReport({ kind, spec, range, project, names }: { kind: string; spec: KindSpec; range: Range; project: string; names: Map<string, string> }) {
  const report = useAsync(
    (signal) => {
      const { start, width } = span(range);
      return buckets<KindResult>(`/v1/organization/usage/${kind}`, { start_time: start, bucket_width: width, "group_by[]": spec.by, "project_ids[]": project || undefined }, signal);
    },
    [kind, range, project],
  );
  const data = report.data ?? [];
  const value = (r: KindResult) => Number(r[spec.field] ?? 0);
  const perBucket = data.map((b) => b.results.reduce((n, r) => n + value(r), 0));
  const rows = new Map<string, { requests: number; amount: number }>();
  data.forEach((b, i) => {
    for (const r of b.results) {
      const key = (spec.by === "model" ? r.model : r.project_id) ?? "(none)";
      const row = rows.get(key) ?? { requests: 0, amount: 0 };
      row.requests += r.num_model_requests ?? 0;
      // a level counts once: as it stands at the period's end
      row.amount = spec.level ? (i === data.length - 1 ? value(r) : row.amount) : row.amount + value(r);
      rows.set(key, row);
    }
  });
  const table = [...rows.entries()].filter(([, r]) => r.amount || r.requests).sort((a, b) => b[1].amount - a[1].amount);
  const requests = table.reduce((n, [, r]) => n + r.requests, 0);
  const amount = spec.level ? (perBucket[perBucket.length - 1] ?? 0) : perBucket.reduce((n, v) => n + v, 0);
  const per = range === "7d" ? "day" : "hour";
  return (
    <>
      <ErrorBox error={report.error} />
      <Loading when={report.loading && !report.data} />
      {report.data && (
        <>
          <Section title="Totals">
            <dl class="totals" data-testid="usage-totals">
              {spec.requests && (
                <div>
                  <dt>Requests</dt>
                  <dd data-testid="total-requests">{number(requests)}</dd>
                </div>
              )}
              <div>
                <dt>{spec.level ? `${spec.unit} (now)` : spec.unit}</dt>
                <dd data-testid={`total-${spec.id}`} data-value={amount}>
                  {spec.format(amount)}
                </dd>
              </div>
            </dl>
          </Section>
          <Section title={`${spec.unit} per ${per}`}>
            <Chart
              x={data.map((b) => b.start_time)}
              series={[{ label: spec.unit.toLowerCase(), stroke: "#2563eb", values: perBucket }]}
              xLabel={per}
              yLabel={spec.unit.toLowerCase()}
              format={spec.level ? bytes : undefined}
              time
              label={`${spec.title}: ${spec.unit.toLowerCase()} per ${per}; ${spec.level ? "now" : "in all"} ${spec.format(amount)}`}
              testId="kind-chart"
            />
          </Section>
          <Section title={spec.by === "model" ? "By model" : "By project"}>
            <Table head={[spec.by === "model" ? "Model" : "Project", ...(spec.requests ? ["Requests"] : []), spec.unit]}>
              {table.map(([key, r]) => (
                <tr key={key}>
                  <td>{spec.by === "model" ? key : (names.get(key) ?? key)}</td>
                  {spec.requests && <td>{number(r.requests)}</td>}
                  <td>{spec.format(r.amount)}</td>
                </tr>
              ))}
            </Table>
            {table.length === 0 && <p class="muted">No usage in this period.</p>}
          </Section>
        </>
      )}
    </>
  );
}

function Completions({ range, project }: { range: Range; project: string }) {
  const report = useAsync(
    async (signal) => {
      const { start, width } = span(range);
      const filter = { "project_ids[]": project || undefined };
      const [usage, costs] = await Promise.all([
        buckets<CompletionsUsage>("/v1/organization/usage/completions", { start_time: start, bucket_width: width, "group_by[]": "model", ...filter }, signal),
        buckets<CostResult>(
          "/v1/organization/costs",
          { start_time: Math.floor(start / DAY) * DAY, bucket_width: "1d", "group_by[]": "line_item", ...filter },
          signal,
        ),
      ]);
      return { usage, costs };
    },
    [range, project],
  );
  const rows = new Map<string, Row>();
  const row = (model: string) => {
    let r = rows.get(model);
    if (!r) rows.set(model, (r = { model, requests: 0, input: 0, cached: 0, output: 0, cost: 0 }));
    return r;
  };
  const usage = report.data?.usage ?? [];
  const costs = report.data?.costs ?? [];
  for (const b of usage)
    for (const r of b.results) {
      const m = row(r.model ?? "(no model)");
      m.requests += r.num_model_requests;
      m.input += r.input_tokens;
      m.cached += r.input_cached_tokens;
      m.output += r.output_tokens;
    }
  for (const b of costs) for (const r of b.results) row((r.line_item ?? "other").split(", ")[0]).cost += r.amount.value;
  const table = [...rows.values()].sort((a, b) => b.cost - a.cost || b.requests - a.requests);
  const total = table.reduce(
    (t, r) => ({ ...t, requests: t.requests + r.requests, input: t.input + r.input, cached: t.cached + r.cached, output: t.output + r.output, cost: t.cost + r.cost }),
    { model: "total", requests: 0, input: 0, cached: 0, output: 0, cost: 0 },
  );
  const sum = (results: CompletionsUsage[], f: (r: CompletionsUsage) => number) => results.reduce((n, r) => n + f(r), 0);
  return (
    <>
      <ErrorBox error={report.error} />
      <Loading when={report.loading && !report.data} />
      {report.data && (
        <>
          <Section title="Totals">
            <dl class="totals" data-testid="usage-totals">
              {(
                [
                  ["Requests", number(total.requests), "requests"],
                  ["Input tokens", number(total.input), "input"],
                  ["Cached input tokens", number(total.cached), "cached"],
                  ["Output tokens", number(total.output), "output"],
                  ["Cost", dollars(total.cost), "cost"],
                ] as const
              ).map(([label, value, id]) => (
                <div key={id}>
                  <dt>{label}</dt>
                  <dd data-testid={`total-${id}`}>{value}</dd>
                </div>
              ))}
            </dl>
          </Section>
          <Section title="Cost per day">
            <Chart
              x={costs.map((b) => b.start_time)}
              series={[{ label: "cost (USD)", stroke: "#15803d", values: costs.map((b) => b.results.reduce((n, r) => n + r.amount.value, 0)) }]}
              xLabel="day"
              yLabel="USD"
              format={(v) => (v === 0 ? "0" : v.toPrecision(2))}
              time
              label={`Cost per day over ${costs.length} days; total ${dollars(total.cost)}`}
              testId="cost-chart"
            />
            <p class="muted">Costs are counted per UTC day (the days this period touches), priced with the server's price table.</p>
          </Section>
          <Section title={range === "7d" ? "Tokens per day" : "Tokens per hour"}>
            <Chart
              x={usage.map((b) => b.start_time)}
              series={[
                { label: "input tokens", stroke: "#2563eb", values: usage.map((b) => sum(b.results, (r) => r.input_tokens)) },
                { label: "output tokens", stroke: "#c2410c", values: usage.map((b) => sum(b.results, (r) => r.output_tokens)) },
              ]}
              xLabel={range === "7d" ? "day" : "hour"}
              yLabel="tokens"
              time
              label={`Tokens per ${range === "7d" ? "day" : "hour"}: ${number(total.input)} input and ${number(total.output)} output in all`}
              testId="tokens-chart"
            />
          </Section>
          <Section title="By model">
            <Table head={["Model", "Requests", "Input tokens", "Cached", "Output tokens", "Cost"]}>
              {table.map((r) => (
                <tr key={r.model}>
                  <td>{r.model}</td>
                  <td>{number(r.requests)}</td>
                  <td>{number(r.input)}</td>
                  <td>{number(r.cached)}</td>
                  <td>{number(r.output)}</td>
                  <td>{dollars(r.cost)}</td>
                </tr>
              ))}
            </Table>
            {table.length === 0 && <p class="muted">No usage in this period.</p>}
          </Section>
        </>
      )}
    </>
  );
}
