// Usage (admin key): cost per day (`/costs`) and tokens per bucket (`/usage/completions`)
// over the last 7 days or 24 hours, totals, a table by model, a project filter.
import { useState } from "preact/hooks";
import { api, buckets, type CompletionsUsage, type CostResult, type Page, type Project } from "../api";
import type { PageProps } from "../app";
import { AdminGate, Chart, ErrorBox, Field, Loading, Section, useAsync } from "../ui";

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

function Report() {
  const [range, setRange] = useState<Range>("7d");
  const [project, setProject] = useState("");
  const projects = useAsync((signal) => api<Page<Project>>("/v1/organization/projects", { admin: true, signal, query: { limit: 100 } }), []);
  const report = useAsync(
    async (signal) => {
      const now = Math.floor(Date.now() / 1000);
      const width = range === "7d" ? "1d" : "1h";
      const step = range === "7d" ? DAY : HOUR;
      const start = Math.floor(now / step) * step - step * (range === "7d" ? 6 : 23);
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
      <div class="card row">
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
      <ErrorBox error={report.error ?? projects.error} />
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
            <div class="table-wrap" tabIndex={0}>
              <table>
                <thead>
                  <tr>
                    <th scope="col">Model</th>
                    <th scope="col">Requests</th>
                    <th scope="col">Input tokens</th>
                    <th scope="col">Cached</th>
                    <th scope="col">Output tokens</th>
                    <th scope="col">Cost</th>
                  </tr>
                </thead>
                <tbody>
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
                </tbody>
              </table>
            </div>
            {table.length === 0 && <p class="muted">No usage in this period.</p>}
          </Section>
        </>
      )}
    </>
  );
}
