// The one way the dashboard talks to Hearth: same-origin fetch with the signed-in key,
// OpenAI's error body turned into a readable ApiError, SSE streams parsed by hand.

const KEY = "hearth.apiKey";
const ADMIN_KEY = "hearth.adminKey";

/** An API failure with OpenAI's error fields (`status` 0: the server was not reached). */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string | null = null,
    readonly param: string | null = null,
  ) {
    super(message);
  }
}

export const session = {
  key(): string | null {
    return sessionStorage.getItem(KEY);
  },
  signIn(key: string): void {
    sessionStorage.setItem(KEY, key);
  },
  signOut(): void {
    sessionStorage.removeItem(KEY);
    sessionStorage.removeItem(ADMIN_KEY);
  },
  /** The admin key (`sk-admin-…`) for the Admin API pages, kept like the project key. */
  adminKey(): string | null {
    return sessionStorage.getItem(ADMIN_KEY);
  },
  setAdminKey(key: string | null): void {
    if (key) sessionStorage.setItem(ADMIN_KEY, key);
    else sessionStorage.removeItem(ADMIN_KEY);
    window.dispatchEvent(new CustomEvent(ADMIN_CHANGED));
  },
};

/** Fired when the admin key is added or forgotten. */
export const ADMIN_CHANGED = "hearth:admin-key";

/** Fired when the server refuses the stored key (401), so the shell can sign out. */
export const UNAUTHORIZED = "hearth:unauthorized";

export type Query = Record<string, string | number | boolean | undefined | null>;

export interface Request {
  method?: string;
  query?: Query;
  json?: unknown;
  form?: FormData;
  signal?: AbortSignal;
  key?: string;
  /** Send the admin key (the Admin API, `/v1/organization/…`) instead of the project key. */
  admin?: boolean;
  /** Sees the response (its headers) before its body is read, errors included. */
  onResponse?: (res: Response) => void;
}

export function url(path: string, query?: Query): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v !== undefined && v !== null && v !== "") params.append(k, String(v));
  }
  const q = params.toString();
  return q ? `${path}?${q}` : path;
}

async function send(path: string, req: Request): Promise<Response> {
  const headers: Record<string, string> = {};
  const key = req.key ?? (req.admin ? session.adminKey() : session.key());
  if (req.admin && !key) throw new ApiError("This page needs an admin key (sk-admin-…).", 401, "admin_key_missing");
  if (key) headers.Authorization = `Bearer ${key}`;
  let body: BodyInit | undefined;
  if (req.form) body = req.form;
  else if (req.json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(req.json);
  }
  let res: Response;
  try {
    res = await fetch(url(path, req.query), {
      method: req.method ?? (body ? "POST" : "GET"),
      headers,
      body,
      signal: req.signal,
    });
  } catch (e) {
    if (e instanceof DOMException && e.name === "AbortError") throw e;
    throw new ApiError(`Cannot reach the server (${String(e)}).`, 0);
  }
  req.onResponse?.(res);
  // a refused admin key is shown on its page; a refused project key signs the tab out
  if (!res.ok) throw await toError(res, req.key === undefined && !req.admin);
  return res;
}

async function toError(res: Response, signedIn: boolean): Promise<ApiError> {
  let message = `${res.status} ${res.statusText || "error"}`;
  let code: string | null = null;
  let param: string | null = null;
  try {
    const body = (await res.json()) as { error?: { message?: string; code?: string; param?: string } };
    if (body.error?.message) message = body.error.message;
    code = body.error?.code ?? null;
    param = body.error?.param ?? null;
  } catch {
    // not JSON: keep the status line
  }
  if (res.status === 401 && signedIn) window.dispatchEvent(new CustomEvent(UNAUTHORIZED, { detail: message }));
  return new ApiError(message, res.status, code, param);
}

/** JSON from `path`; throws ApiError. */
export async function api<T>(path: string, req: Request = {}): Promise<T> {
  const res = await send(path, req);
  return (await res.json()) as T;
}

/** The raw body of `path` (file contents). */
export async function blob(path: string, req: Request = {}): Promise<Blob> {
  return (await send(path, req)).blob();
}

/** Each `data:` frame of an SSE response as parsed JSON, until `[DONE]`; an error frame
 * mid-stream throws ApiError. */
export async function* stream<T>(path: string, req: Request): AsyncGenerator<T> {
  const res = await send(path, req);
  if (!res.body) throw new ApiError("The server sent no stream.", res.status);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value.replace(/\r\n?/g, "\n");
    let end: number;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = frame
        .split("\n")
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).trimStart())
        .join("\n");
      if (!data) continue;
      if (data === "[DONE]") return;
      const event = JSON.parse(data) as T & { error?: { message: string; code?: string; param?: string } };
      if (event.error) throw new ApiError(event.error.message, res.status, event.error.code ?? null, event.error.param ?? null);
      yield event as T;
    }
  }
}

export function message(e: unknown): string {
  if (e instanceof ApiError) return e.message;
  if (e instanceof Error) return e.message;
  return String(e);
}

// --- the API's shapes, as much of them as the dashboard reads ---

export interface Page<T> {
  object: "list";
  data: T[];
  first_id?: string | null;
  last_id?: string | null;
  has_more?: boolean;
}

export interface Model {
  id: string;
  created: number;
  owned_by: string;
}

export interface TopLogprob {
  token: string;
  logprob: number;
}

export interface TokenLogprob extends TopLogprob {
  top_logprobs?: TopLogprob[];
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export interface ChatMessage {
  role: string;
  content: string | null | Array<{ type: string; text?: string }>;
  tool_calls?: Array<{ id: string; type: string; function: { name: string; arguments: string } }>;
  id?: string;
  name?: string;
}

export interface ChatCompletion {
  id: string;
  created: number;
  model: string;
  choices: Array<{
    index: number;
    finish_reason: string | null;
    message: ChatMessage;
    logprobs?: { content: TokenLogprob[] | null } | null;
  }>;
  usage?: Usage | null;
  metadata?: Record<string, string> | null;
}

export interface ChatChunk {
  id: string;
  model: string;
  choices: Array<{
    index: number;
    finish_reason: string | null;
    delta: { role?: string; content?: string | null; tool_calls?: unknown[] };
    logprobs?: { content: TokenLogprob[] | null } | null;
  }>;
  usage?: Usage | null;
}

export interface FileObject {
  id: string;
  filename: string;
  bytes: number;
  purpose: string;
  created_at: number;
  status?: string;
}

export interface FineTuningJob {
  id: string;
  model: string;
  status: string;
  created_at: number;
  finished_at?: number | null;
  fine_tuned_model?: string | null;
  training_file: string;
  validation_file?: string | null;
  result_files?: string[];
  trained_tokens?: number | null;
  error?: { message?: string | null; code?: string | null } | null;
  estimated_finish?: number | null;
  method?: { type: string; [k: string]: unknown } | null;
  hyperparameters?: Record<string, unknown>;
  suffix?: string | null;
  seed?: number;
}

export interface FineTuningEvent {
  id: string;
  created_at: number;
  level: string;
  message: string;
  type?: string;
  data?: { step?: number; train_loss?: number; valid_loss?: number | null; total_steps?: number } | null;
}

export interface Checkpoint {
  id: string;
  created_at: number;
  fine_tuned_model_checkpoint: string;
  step_number: number;
  metrics?: Record<string, number | null>;
}

export interface Eval {
  id: string;
  name: string;
  created_at: number;
  data_source_config: { type: string; [k: string]: unknown };
  testing_criteria: Array<{ id?: string; name: string; type: string; [k: string]: unknown }>;
  metadata?: Record<string, string> | null;
}

export interface EvalRun {
  id: string;
  eval_id: string;
  name: string;
  status: string;
  model?: string | null;
  created_at: number;
  result_counts: { total: number; passed: number; failed: number; errored: number };
  per_testing_criteria_results?: Array<{ testing_criteria: string; passed: number; failed: number }>;
  error?: { code?: string; message?: string } | null;
  data_source?: { type: string; [k: string]: unknown };
}

export interface OutputItem {
  id: string;
  datasource_item_id: number;
  datasource_item: Record<string, unknown>;
  status: string;
  results: Array<{ name: string; passed: boolean; score: number; [k: string]: unknown }>;
  sample?: {
    output?: Array<{ role?: string; content?: string }>;
    error?: { code?: string; message?: string } | null;
  } | null;
}

/** Models a chat request can name: everything but the speech and embedding models. */
export function isChatModel(id: string): boolean {
  return !/(whisper|tts|transcribe|piper|embedding|minilm|bge-|e5-)/i.test(id);
}

export function when(seconds: number | null | undefined): string {
  if (!seconds) return "";
  return new Date(seconds * 1000).toLocaleString();
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

// --- the Admin API (admin key) ---

export interface Project {
  id: string;
  name: string;
  created_at: number;
  status: string;
}

export interface ProjectApiKey {
  id: string;
  name: string;
  redacted_value: string;
  created_at: number;
  last_used_at?: number | null;
  owner: { type: string; user?: { name?: string; email?: string }; service_account?: { id: string; name: string } };
}

export interface ServiceAccount {
  id: string;
  name: string;
  role: string;
  created_at: number;
}

export interface NewApiKey {
  id: string;
  name: string;
  value: string;
}

export interface RateLimit {
  id: string;
  model: string;
  max_requests_per_1_minute: number;
  max_tokens_per_1_minute: number;
  max_requests_per_1_day?: number | null;
}

export interface AuditLog {
  id: string;
  type: string;
  effective_at: number;
  [k: string]: unknown;
}

/** A usage or costs page: buckets of results, `next_page` the cursor of the next. */
export interface BucketPage<R> {
  data: Array<{ start_time: number; end_time: number; results: R[] }>;
  has_more: boolean;
  next_page: string | null;
}

export interface CompletionsUsage {
  model?: string | null;
  project_id?: string | null;
  input_tokens: number;
  input_cached_tokens: number;
  output_tokens: number;
  num_model_requests: number;
}

export interface CostResult {
  amount: { value: number; currency: string };
  line_item?: string | null;
  project_id?: string | null;
}

/** Every bucket of a usage or costs report, following `next_page`. */
export async function buckets<R>(path: string, query: Query, signal?: AbortSignal): Promise<BucketPage<R>["data"]> {
  const out: BucketPage<R>["data"] = [];
  let page: string | undefined;
  for (let n = 0; n < 50; n++) {
    const res: BucketPage<R> = await api<BucketPage<R>>(path, { admin: true, signal, query: { ...query, page } });
    out.push(...res.data);
    if (!res.has_more || !res.next_page) break;
    page = res.next_page;
  }
  return out;
}
