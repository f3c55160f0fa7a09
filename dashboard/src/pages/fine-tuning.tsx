// Fine-tuning: jobs, a job created from an uploaded file, a job's page with its events
// (polled while it runs), the loss curve from its metrics events, checkpoints, and
// cancel / pause / resume.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, blob, isChatModel, type Checkpoint, type FileObject, type FineTuningEvent, type FineTuningJob, type Model, type Page } from "../api";
import type { PageProps } from "../app";
import { Chart, download, ErrorBox, Field, go, href, Json, Loading, Pager, Section, Status, useAction, useAsync, usePager, usePoll, type ChartSeries, Table } from "../ui";

const RUNNING = new Set(["validating_files", "queued", "running"]);

export function FineTuning({ route }: PageProps) {
  const id = route.parts[1];
  if (id) return <JobPage id={id} />;
  return <JobList trainingFile={route.query.get("training_file") ?? ""} />;
}

function JobList({ trainingFile }: { trainingFile: string }) {
  const pager = usePager([]);
  const jobs = useAsync((signal) => api<Page<FineTuningJob>>("/v1/fine_tuning/jobs", { signal, query: { limit: 20, after: pager.after } }), [pager.after]);
  usePoll(jobs.reload, 3000, (jobs.data?.data ?? []).some((j) => RUNNING.has(j.status)));
  const [creating, setCreating] = useState(trainingFile !== "");
  return (
    <>
      <ErrorBox error={jobs.error} />
      <Section
        title="Jobs"
        actions={
          <button type="button" class="primary" onClick={() => setCreating(!creating)} aria-expanded={creating}>
            Create job
          </button>
        }
      >
        {creating && <CreateJob trainingFile={trainingFile} />}
        <Loading when={jobs.loading && !jobs.data} />
        <Table head={["Job", "Status", "Base model", "Fine-tuned model", "Created"]}>
          {(jobs.data?.data ?? []).map((j) => (
            <tr key={j.id}>
              <td>
                <a href={href(["fine-tuning", j.id])}>{j.id}</a>
              </td>
              <td>
                <Status value={j.status} />
              </td>
              <td>{j.model}</td>
              <td>{j.fine_tuned_model ?? "—"}</td>
              <td>{new Date(j.created_at * 1000).toLocaleString()}</td>
            </tr>
          ))}
        </Table>
        {jobs.data && jobs.data.data.length === 0 && <p class="muted">No fine-tuning jobs yet.</p>}
        <Pager page={jobs.data} pager={pager} label="Jobs" />
      </Section>
    </>
  );
}

function CreateJob({ trainingFile }: { trainingFile: string }) {
  const models = useAsync((signal) => api<Page<Model>>("/v1/models", { signal }), []);
  const files = useAsync((signal) => api<Page<FileObject>>("/v1/files", { signal, query: { purpose: "fine-tune", limit: 100 } }), []);
  const bases = (models.data?.data ?? []).filter((m) => isChatModel(m.id));
  const [model, setModel] = useState("");
  const [training, setTraining] = useState(trainingFile);
  const [validation, setValidation] = useState("");
  const [suffix, setSuffix] = useState("");
  const [method, setMethod] = useState<"supervised" | "dpo">("supervised");
  const [epochs, setEpochs] = useState("");
  const [batch, setBatch] = useState("");
  const [lr, setLr] = useState("");
  const [seed, setSeed] = useState("");
  const action = useAction();
  const create = () =>
    action.run(async () => {
      const hp: Record<string, number> = {};
      if (epochs) hp.n_epochs = Number(epochs);
      if (batch) hp.batch_size = Number(batch);
      if (lr) hp.learning_rate_multiplier = Number(lr);
      const job = await api<FineTuningJob>("/v1/fine_tuning/jobs", {
        json: {
          model: model || bases[0]?.id,
          training_file: training,
          validation_file: validation || undefined,
          suffix: suffix || undefined,
          seed: seed ? Number(seed) : undefined,
          method: { type: method, [method]: { hyperparameters: hp } },
        },
      });
      go(["fine-tuning", job.id]);
    });
  const fileOptions = (files.data?.data ?? []).map((f) => (
    <option key={f.id} value={f.id}>
      {f.filename} ({f.id})
    </option>
  ));
  return (
    <form
      class="panel"
      aria-label="Create fine-tuning job"
      onSubmit={(e) => {
        e.preventDefault();
        void create();
      }}
    >
      <ErrorBox error={models.error ?? files.error} />
      <div class="grid">
        <Field label="Base model">
          <select value={model} onChange={(e) => setModel(e.currentTarget.value)}>
            {bases.map((m) => (
              <option key={m.id} value={m.id}>
                {m.id}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Training file">
          <select value={training} onChange={(e) => setTraining(e.currentTarget.value)} required>
            <option value="">Choose a file (purpose fine-tune)</option>
            {trainingFile && !(files.data?.data ?? []).some((f) => f.id === trainingFile) && <option value={trainingFile}>{trainingFile}</option>}
            {fileOptions}
          </select>
        </Field>
        <Field label="Validation file">
          <select value={validation} onChange={(e) => setValidation(e.currentTarget.value)}>
            <option value="">none</option>
            {fileOptions}
          </select>
        </Field>
        <Field label="Method">
          <select value={method} onChange={(e) => setMethod(e.currentTarget.value as typeof method)}>
            <option value="supervised">supervised</option>
            <option value="dpo">dpo</option>
          </select>
        </Field>
        <Field label="Suffix">
          <input value={suffix} pattern="[A-Za-z0-9_.\-]*" onInput={(e) => setSuffix(e.currentTarget.value)} />
        </Field>
        <Field label="Epochs" hint="auto: 3">
          <input type="number" min={1} max={50} value={epochs} onInput={(e) => setEpochs(e.currentTarget.value)} />
        </Field>
        <Field label="Batch size" hint="auto: 4">
          <input type="number" min={1} max={256} value={batch} onInput={(e) => setBatch(e.currentTarget.value)} />
        </Field>
        <Field label="Learning rate multiplier" hint="auto: 1">
          <input type="number" min={0} step={0.1} value={lr} onInput={(e) => setLr(e.currentTarget.value)} />
        </Field>
        <Field label="Seed">
          <input type="number" value={seed} onInput={(e) => setSeed(e.currentTarget.value)} />
        </Field>
      </div>
      <button type="submit" class="primary" disabled={action.busy || !training}>
        Create job
      </button>
      <ErrorBox error={action.error} />
    </form>
  );
}

/** Every event of a job, oldest first (the API pages newest first, 100 at a time). */
async function allEvents(id: string, signal: AbortSignal): Promise<FineTuningEvent[]> {
  const out: FineTuningEvent[] = [];
  let after: string | undefined;
  for (let n = 0; n < 50; n++) {
    const page = await api<Page<FineTuningEvent>>(`/v1/fine_tuning/jobs/${encodeURIComponent(id)}/events`, { signal, query: { limit: 100, after } });
    out.push(...page.data);
    if (!page.has_more || !page.data.length) break;
    after = page.data[page.data.length - 1].id;
  }
  return out.reverse();
}

function JobPage({ id }: { id: string }) {
  const path = `/v1/fine_tuning/jobs/${encodeURIComponent(id)}`;
  const job = useAsync((signal) => api<FineTuningJob>(path, { signal }), [path]);
  const events = useAsync((signal) => allEvents(id, signal), [id]);
  const checkpoints = useAsync((signal) => api<Page<Checkpoint>>(`${path}/checkpoints`, { signal, query: { limit: 100 } }), [path]);
  const running = job.data ? RUNNING.has(job.data.status) : false;
  usePoll(
    () => {
      job.reload();
      events.reload();
      checkpoints.reload();
    },
    2000,
    running,
  );
  // once more when it stops: the last events and checkpoints may have come after the last poll
  const wasRunning = useRef(running);
  useEffect(() => {
    if (wasRunning.current && !running) {
      events.reload();
      checkpoints.reload();
    }
    wasRunning.current = running;
  }, [running]); // eslint-disable-line react-hooks/exhaustive-deps
  const action = useAction();
  const act = (verb: string) => action.run(() => api<FineTuningJob>(`${path}/${verb}`, { method: "POST" }).then(job.reload));
  const j = job.data;
  const metrics = (events.data ?? []).filter((e) => e.type === "metrics" && e.data?.step !== undefined);
  const resultFile = useAction();
  return (
    <>
      <p>
        <a href={href(["fine-tuning"])}>← All jobs</a>
      </p>
      <ErrorBox error={job.error} />
      {j && (
        <Section
          title={j.id}
          actions={
            <>
              {RUNNING.has(j.status) && (
                <button type="button" disabled={action.busy} onClick={() => void act("pause")}>
                  Pause
                </button>
              )}
              {j.status === "paused" && (
                <button type="button" disabled={action.busy} onClick={() => void act("resume")}>
                  Resume
                </button>
              )}
              {(RUNNING.has(j.status) || j.status === "paused") && (
                <button type="button" disabled={action.busy} onClick={() => void act("cancel")}>
                  Cancel job
                </button>
              )}
            </>
          }
        >
          <ErrorBox error={action.error} />
          <dl class="facts">
            <dt>Status</dt>
            <dd>
              <Status value={j.status} />
              {j.estimated_finish && running ? ` · estimated finish ${new Date(j.estimated_finish * 1000).toLocaleTimeString()}` : ""}
            </dd>
            <dt>Base model</dt>
            <dd>
              {j.model} <a href={href(["playground"], { model: j.model })}>Open in playground</a>
            </dd>
            <dt>Fine-tuned model</dt>
            <dd>
              {j.fine_tuned_model ? (
                <>
                  {j.fine_tuned_model} <a href={href(["playground"], { model: j.fine_tuned_model })}>Open in playground</a>
                </>
              ) : (
                "—"
              )}
            </dd>
            <dt>Training file</dt>
            <dd>
              <code>{j.training_file}</code>
            </dd>
            <dt>Method</dt>
            <dd>{j.method?.type ?? "supervised"}</dd>
            <dt>Trained tokens</dt>
            <dd>{j.trained_tokens ?? "—"}</dd>
            {j.error?.message && (
              <>
                <dt>Error</dt>
                <dd class="error">{j.error.message}</dd>
              </>
            )}
            {(j.result_files ?? []).length > 0 && (
              <>
                <dt>Result files</dt>
                <dd>
                  {(j.result_files ?? []).map((f) => (
                    <button
                      key={f}
                      type="button"
                      onClick={() =>
                        void resultFile.run(async () => {
                          download(`${f}.csv`, await blob(`/v1/files/${encodeURIComponent(f)}/content`), "text/csv");
                        })
                      }
                    >
                      Download {f}
                    </button>
                  ))}
                  <ErrorBox error={resultFile.error} />
                </dd>
              </>
            )}
          </dl>
          <details>
            <summary>Hyperparameters and method</summary>
            <Json value={{ method: j.method, hyperparameters: j.hyperparameters }} label="Method" />
          </details>
        </Section>
      )}
      <Section title="Loss">
        <ErrorBox error={events.error} />
        {metrics.length > 0 ? <LossChart metrics={metrics} /> : <p class="muted">No training steps yet.</p>}
      </Section>
      <Section title="Checkpoints">
        <ErrorBox error={checkpoints.error} />
        {(checkpoints.data?.data ?? []).length === 0 ? (
          <p class="muted">No checkpoints yet (one per epoch).</p>
        ) : (
          <Table head={["Step", "Model", "Train loss", "Playground"]}>
            {(checkpoints.data?.data ?? []).map((c) => (
              <tr key={c.id}>
                <td>{c.step_number}</td>
                <td>{c.fine_tuned_model_checkpoint}</td>
                <td>{c.metrics?.train_loss?.toFixed?.(4) ?? "—"}</td>
                <td>
                  <a href={href(["playground"], { model: c.fine_tuned_model_checkpoint })}>Open in playground</a>
                </td>
              </tr>
            ))}
          </Table>
        )}
      </Section>
      <Section title="Events">
        <ol class="events" aria-label="Job events" tabIndex={0}>
          {[...(events.data ?? [])].reverse().slice(0, 200).map((e) => (
            <li key={e.id} class={`event ${e.level}`}>
              <time>{new Date(e.created_at * 1000).toLocaleTimeString()}</time> {e.message}
            </li>
          ))}
        </ol>
      </Section>
    </>
  );
}

function LossChart({ metrics }: { metrics: FineTuningEvent[] }) {
  const steps = metrics.map((e) => e.data?.step ?? 0);
  const valid = metrics.map((e) => e.data?.valid_loss ?? null);
  const series: ChartSeries[] = [{ label: "train loss", stroke: "#2563eb", values: metrics.map((e) => e.data?.train_loss ?? null) }];
  if (valid.some((v) => v !== null && v !== undefined)) series.push({ label: "valid loss", stroke: "#c2410c", values: valid });
  const last = metrics[metrics.length - 1]?.data;
  return (
    <figure class="chart">
      <Chart
        x={steps}
        series={series}
        xLabel="step"
        yLabel="loss"
        label={`Training loss over ${steps.length} steps; last train loss ${last?.train_loss?.toFixed(4) ?? "none"}`}
        testId="loss-chart"
      />
      <figcaption class="muted">
        Step {last?.step} of {last?.total_steps ?? "?"}: train loss {last?.train_loss?.toFixed(4)}
        {last?.valid_loss != null ? `, valid loss ${last.valid_loss.toFixed(4)}` : ""}
      </figcaption>
    </figure>
  );
}
