// API keys (admin key): a project's keys and their permissions, new keys through service
// accounts (the secret shown once), deleting keys, and the project's rate limits per model.
import { useEffect, useState } from "preact/hooks";
import {
  api,
  session,
  when,
  type AuditLog,
  type NewApiKey,
  type Page,
  type Project,
  type ProjectApiKey,
  type RateLimit,
  type ServiceAccount,
} from "../api";
import type { PageProps } from "../app";
import { AdminGate, CopyButton, ErrorBox, Field, Form, Loading, Section, useAction, useAsync, Table } from "../ui";

const READ_ONLY = "api.all.read";

/** The scopes a restricted key may hold, as `docs/admin.md` lists them. */
const SCOPES: Array<[string, string]> = [
  ["api.model.read", "Models: read"],
  ["api.model.request", "Model capabilities: request"],
  ["api.chat.completions.read", "Chat completions: read"],
  ["api.chat.completions.write", "Chat completions: write"],
  ["api.files.read", "Files: read"],
  ["api.files.write", "Files: write"],
  ["api.vector_stores.read", "Vector stores: read"],
  ["api.vector_stores.write", "Vector stores: write"],
  ["api.assistants.read", "Assistants: read"],
  ["api.assistants.write", "Assistants: write"],
  ["api.threads.read", "Threads: read"],
  ["api.threads.write", "Threads: write"],
  ["api.responses.read", "Responses: read"],
  ["api.responses.write", "Responses: write"],
  ["api.containers.read", "Containers: read"],
  ["api.containers.write", "Containers: write"],
  ["api.evals.read", "Evals: read"],
  ["api.evals.write", "Evals: write"],
  ["api.fine_tuning.jobs.read", "Fine-tuning: read"],
  ["api.fine_tuning.jobs.write", "Fine-tuning: write"],
  ["api.batch.read", "Batch: read"],
  ["api.batch.write", "Batch: write"],
];

const org = "/v1/organization";
const enc = encodeURIComponent;

/** How Hearth redacts a key (`sk-hearth-ab...wxyz`), to find the signed-in key's project;
 * null where the key is too short to show any of it. */
function redact(secret: string): string | null {
  const prefix = ["sk-hearth-", "sk-admin-"].find((p) => secret.startsWith(p)) ?? "";
  const head = prefix.length + 2;
  if (secret.length - head - 4 < 16) return null;
  return `${secret.slice(0, head)}...${secret.slice(-4)}`;
}

export function permissionText(scopes: string[] | undefined): string {
  if (!scopes || scopes.length === 0) return "All";
  if (scopes.length === 1 && scopes[0] === READ_ONLY) return "Read only";
  return `Restricted: ${scopes.join(", ")}`;
}

export function ApiKeys(_: PageProps) {
  return (
    <AdminGate what="The API keys page">
      <Keys />
    </AdminGate>
  );
}

function Keys() {
  const projects = useAsync(async (signal) => {
    const list = await api<Page<Project>>(`${org}/projects`, { admin: true, signal, query: { limit: 100 } });
    const mine = redact(session.key() ?? "");
    let current = list.data[0]?.id;
    if (mine)
      for (const p of list.data.slice(0, 20)) {
        const keys = await api<Page<ProjectApiKey>>(`${org}/projects/${enc(p.id)}/api_keys`, { admin: true, signal, query: { limit: 100 } });
        if (keys.data.some((k) => k.redacted_value === mine)) {
          current = p.id;
          break;
        }
      }
    return { list: list.data, current };
  }, []);
  const [chosen, setChosen] = useState<string | undefined>();
  const project = chosen ?? projects.data?.current;
  return (
    <>
      <ErrorBox error={projects.error} />
      <Loading when={projects.loading && !projects.data} />
      {projects.data && (
        <div class="card row">
          <Field label="Project">
            <select value={project} onChange={(e) => setChosen(e.currentTarget.value)}>
              {projects.data.list.map((p) => (
                <option key={p.id} value={p.id}>
                  {p.name} ({p.id})
                </option>
              ))}
            </select>
          </Field>
        </div>
      )}
      {projects.data && projects.data.list.length === 0 && <p class="muted">No projects.</p>}
      {project && <ProjectKeys key={project} project={project} />}
      {project && <RateLimits key={`rl-${project}`} project={project} />}
    </>
  );
}

/** Each key's scopes from the audit log (`api_key.created` / `api_key.updated`): the key
 * objects do not carry them. A key without an entry has all permissions. */
async function scopesOf(project: string, signal: AbortSignal): Promise<Map<string, string[]>> {
  const scopes = new Map<string, string[]>();
  const events: Array<{ at: number; id: string; scopes: string[] }> = [];
  for (const type of ["api_key.created", "api_key.updated"]) {
    let after: string | undefined;
    for (let n = 0; n < 20; n++) {
      const page = await api<Page<AuditLog>>(`${org}/audit_logs`, {
        admin: true,
        signal,
        query: { "project_ids[]": project, "event_types[]": type, limit: 100, after },
      });
      for (const e of page.data) {
        const body = e[type] as { id: string; data?: { scopes?: string[] }; changes_requested?: { scopes?: string[] } } | undefined;
        const set = body?.data?.scopes ?? body?.changes_requested?.scopes;
        if (body && set) events.push({ at: e.effective_at + (type === "api_key.updated" ? 0.5 : 0), id: body.id, scopes: set });
      }
      if (!page.has_more || !page.last_id) break;
      after = page.last_id;
    }
  }
  // oldest first (the list's default order): the last change wins
  events.sort((a, b) => a.at - b.at);
  for (const e of events) scopes.set(e.id, e.scopes);
  return scopes;
}

function ProjectKeys({ project }: { project: string }) {
  const keys = useAsync(
    async (signal) => {
      const [list, scopes] = await Promise.all([
        api<Page<ProjectApiKey>>(`${org}/projects/${enc(project)}/api_keys`, { admin: true, signal, query: { limit: 100 } }),
        scopesOf(project, signal),
      ]);
      return { list: list.data, scopes };
    },
    [project],
  );
  const [editing, setEditing] = useState<ProjectApiKey | null>(null);
  const row = useAction();
  const remove = (k: ProjectApiKey) => {
    if (!confirm(`Delete the key ${k.name} (${k.redacted_value})? Anything using it stops working.`)) return;
    void row.run(() => api(`${org}/projects/${enc(project)}/api_keys/${enc(k.id)}`, { admin: true, method: "DELETE" }).then(keys.reload));
  };
  return (
    <>
      <CreateKey project={project} onDone={keys.reload} />
      <Section title="API keys">
        <ErrorBox error={keys.error ?? row.error} />
        <Loading when={keys.loading && !keys.data} />
        <Table head={["Name", "Key", "Owner", "Permissions", "Created", "Last used", "Actions"]}>
          {(keys.data?.list ?? []).map((k) => (
            <tr key={k.id}>
              <td>{k.name}</td>
              <td>
                <code>{k.redacted_value}</code>
              </td>
              <td>{k.owner.service_account ? `${k.owner.service_account.name} (service account)` : (k.owner.user?.email ?? k.owner.type)}</td>
              <td>{permissionText(keys.data?.scopes.get(k.id))}</td>
              <td>{when(k.created_at)}</td>
              <td>{k.last_used_at ? when(k.last_used_at) : "never"}</td>
              <td class="actions">
                <button type="button" onClick={() => setEditing(k)} aria-label={`Permissions of ${k.name}`}>
                  Permissions…
                </button>
                <button type="button" onClick={() => remove(k)} aria-label={`Delete ${k.name}`}>
                  Delete
                </button>
              </td>
            </tr>
          ))}
        </Table>
        {keys.data && keys.data.list.length === 0 && <p class="muted">No keys.</p>}
      </Section>
      {editing && (
        <EditPermissions
          key={editing.id}
          project={project}
          apiKey={editing}
          scopes={keys.data?.scopes.get(editing.id) ?? []}
          onDone={() => {
            setEditing(null);
            keys.reload();
          }}
          onCancel={() => setEditing(null)}
        />
      )}
    </>
  );
}

type Mode = "all" | "read" | "restricted";

function modeOf(scopes: string[]): Mode {
  if (scopes.length === 0) return "all";
  if (scopes.length === 1 && scopes[0] === READ_ONLY) return "read";
  return "restricted";
}

/** All / Read only / Restricted (with a checkbox per scope), as `scopes`. */
function Permissions({ mode, scopes, onChange, name }: { mode: Mode; scopes: Set<string>; onChange: (mode: Mode, scopes: Set<string>) => void; name: string }) {
  return (
    <fieldset class="permissions">
      <legend>Permissions</legend>
      <div class="row">
        {(
          [
            ["all", "All"],
            ["read", "Read only"],
            ["restricted", "Restricted"],
          ] as Array<[Mode, string]>
        ).map(([value, label]) => (
          <label class="check" key={value}>
            <input type="radio" name={name} checked={mode === value} onChange={() => onChange(value, scopes)} />
            {label}
          </label>
        ))}
      </div>
      {mode === "restricted" && (
        <div class="scopes">
          {SCOPES.map(([scope, label]) => (
            <label class="check" key={scope}>
              <input
                type="checkbox"
                checked={scopes.has(scope)}
                onChange={(e) => {
                  const next = new Set(scopes);
                  if (e.currentTarget.checked) next.add(scope);
                  else next.delete(scope);
                  onChange(mode, next);
                }}
              />
              <span>
                {label} <code class="scope">{scope}</code>
              </span>
            </label>
          ))}
        </div>
      )}
    </fieldset>
  );
}

function scopeList(mode: Mode, scopes: Set<string>): string[] {
  if (mode === "all") return [];
  if (mode === "read") return [READ_ONLY];
  if (scopes.size === 0) throw new Error("Choose at least one scope for a restricted key.");
  return [...scopes].sort();
}

function EditPermissions({ project, apiKey, scopes, onDone, onCancel }: { project: string; apiKey: ProjectApiKey; scopes: string[]; onDone: () => void; onCancel: () => void }) {
  const [mode, setMode] = useState<Mode>(modeOf(scopes));
  const [chosen, setChosen] = useState(new Set(scopes.filter((s) => s !== READ_ONLY)));
  const action = useAction();
  const save = () =>
    action.run(async () => {
      await api(`${org}/projects/${enc(project)}/api_keys/${enc(apiKey.id)}`, { admin: true, json: { scopes: scopeList(mode, chosen) } });
      onDone();
    });
  return (
    <Section title={`Permissions of ${apiKey.name}`}>
      <Form onSubmit={() => void save()} label={`Permissions of ${apiKey.name}`}>
        <Permissions
          mode={mode}
          scopes={chosen}
          name="edit-mode"
          onChange={(m, s) => {
            setMode(m);
            setChosen(s);
          }}
        />
        <div class="row">
          <button type="submit" class="primary" disabled={action.busy}>
            Save permissions
          </button>
          <button type="button" onClick={onCancel}>
            Cancel
          </button>
        </div>
        <ErrorBox error={action.error} />
      </Form>
    </Section>
  );
}

const NEW_ACCOUNT = "";

function CreateKey({ project, onDone }: { project: string; onDone: () => void }) {
  const accounts = useAsync(
    (signal) => api<Page<ServiceAccount>>(`${org}/projects/${enc(project)}/service_accounts`, { admin: true, signal, query: { limit: 100 } }),
    [project],
  );
  const [account, setAccount] = useState<string | undefined>();
  const [accountName, setAccountName] = useState("");
  const [name, setName] = useState("");
  const [mode, setMode] = useState<Mode>("all");
  const [scopes, setScopes] = useState(new Set<string>());
  const [secret, setSecret] = useState<NewApiKey | null>(null);
  const action = useAction();
  const list = accounts.data?.data ?? [];
  const picked = account ?? list[0]?.id ?? NEW_ACCOUNT;
  useEffect(() => setSecret(null), [project]);
  const create = () =>
    action.run(async () => {
      const wanted = scopeList(mode, scopes);
      let id = picked;
      if (id === NEW_ACCOUNT) {
        if (!accountName.trim()) throw new Error("Name the new service account.");
        const made = await api<ServiceAccount>(`${org}/projects/${enc(project)}/service_accounts`, {
          admin: true,
          json: { name: accountName.trim(), create_service_account_only: true },
        });
        id = made.id;
        setAccount(id);
        setAccountName("");
        accounts.reload();
      }
      const key = await api<NewApiKey>(`${org}/projects/${enc(project)}/service_accounts/${enc(id)}/api_keys`, {
        admin: true,
        json: { name: name.trim() || "Secret key", scopes: wanted },
      });
      setSecret(key);
      setName("");
      onDone();
    });
  return (
    <Section title="Create a key">
      <ErrorBox error={accounts.error} />
      <Form onSubmit={() => void create()} label="Create a key">
        <div class="row">
          <Field label="Service account" hint="Project keys belong to a service account of the project.">
            <select value={picked} onChange={(e) => setAccount(e.currentTarget.value)}>
              {list.map((a) => (
                <option key={a.id} value={a.id}>
                  {a.name} ({a.id})
                </option>
              ))}
              <option value={NEW_ACCOUNT}>New service account…</option>
            </select>
          </Field>
          {picked === NEW_ACCOUNT && (
            <Field label="New service account name">
              <input value={accountName} onInput={(e) => setAccountName(e.currentTarget.value)} required />
            </Field>
          )}
          <Field label="Key name">
            <input value={name} onInput={(e) => setName(e.currentTarget.value)} placeholder="Secret key" />
          </Field>
        </div>
        <Permissions
          mode={mode}
          scopes={scopes}
          name="create-mode"
          onChange={(m, s) => {
            setMode(m);
            setScopes(s);
          }}
        />
        <button type="submit" class="primary" disabled={action.busy}>
          {action.busy ? "Creating…" : "Create key"}
        </button>
        <ErrorBox error={action.error} />
      </Form>
      {secret && (
        <div class="notice secret" role="region" aria-label="New secret key">
          <p>
            The new key <strong>{secret.name}</strong>, shown this once: store it now.
          </p>
          <p class="row">
            <code data-testid="new-secret">{secret.value}</code>
            <CopyButton text={secret.value} label="Copy the new key" />
          </p>
          <button type="button" onClick={() => setSecret(null)}>
            Done, hide it
          </button>
        </div>
      )}
    </Section>
  );
}

type LimitField = "max_requests_per_1_minute" | "max_tokens_per_1_minute" | "max_requests_per_1_day";

const LIMIT_FIELDS: Array<[LimitField, string]> = [
  ["max_requests_per_1_minute", "RPM"],
  ["max_tokens_per_1_minute", "TPM"],
  ["max_requests_per_1_day", "RPD"],
];

function RateLimits({ project }: { project: string }) {
  const limits = useAsync(
    (signal) => api<Page<RateLimit>>(`${org}/projects/${enc(project)}/rate_limits`, { admin: true, signal, query: { limit: 100 } }),
    [project],
  );
  return (
    <Section title="Rate limits">
      <p class="muted">Per model, for every key of this project: requests and tokens per minute (RPM, TPM) and requests per day (RPD, empty: none).</p>
      <ErrorBox error={limits.error} />
      <Loading when={limits.loading && !limits.data} />
      <Table head={["Model", ...LIMIT_FIELDS.map(([, label]) => label), "Actions"]}>
        {(limits.data?.data ?? []).map((l) => (
          <LimitRow key={l.id} project={project} limit={l} onDone={limits.reload} />
        ))}
      </Table>
    </Section>
  );
}

function LimitRow({ project, limit, onDone }: { project: string; limit: RateLimit; onDone: () => void }) {
  const initial = (f: LimitField) => (limit[f] == null ? "" : String(limit[f]));
  const [values, setValues] = useState<Record<LimitField, string>>({
    max_requests_per_1_minute: initial("max_requests_per_1_minute"),
    max_tokens_per_1_minute: initial("max_tokens_per_1_minute"),
    max_requests_per_1_day: initial("max_requests_per_1_day"),
  });
  const [saved, setSaved] = useState(false);
  const action = useAction();
  const changed = LIMIT_FIELDS.filter(([f]) => values[f] !== initial(f) && values[f] !== "");
  const save = () =>
    action.run(async () => {
      const body: Record<string, number> = {};
      for (const [f, label] of changed) {
        const n = Number(values[f]);
        if (!Number.isInteger(n) || n < 0) throw new Error(`${label} must be a whole number.`);
        body[f] = n;
      }
      await api(`${org}/projects/${enc(project)}/rate_limits/${enc(limit.id)}`, { admin: true, json: body });
      setSaved(true);
      onDone();
    });
  return (
    <tr>
      <td>{limit.model}</td>
      {LIMIT_FIELDS.map(([f, label]) => (
        <td key={f}>
          <input
            class="num"
            type="number"
            min={0}
            step={1}
            inputMode="numeric"
            aria-label={`${label} for ${limit.model}`}
            value={values[f]}
            onInput={(e) => {
              setSaved(false);
              setValues({ ...values, [f]: e.currentTarget.value });
            }}
          />
        </td>
      ))}
      <td class="actions">
        <button type="button" onClick={() => void save()} disabled={action.busy || changed.length === 0} aria-label={`Save limits for ${limit.model}`}>
          Save
        </button>
        {saved && (
          <span class="muted" role="status">
            Saved.
          </span>
        )}
        <ErrorBox error={action.error} />
      </td>
    </tr>
  );
}
