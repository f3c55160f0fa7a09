// Shared pieces: hash routing, async state, errors, labelled fields, cursor paging,
// charts (uPlot), the admin key's gate.
import { cloneElement, type ComponentChildren, type JSX, type VNode } from "preact";
import { useCallback, useEffect, useId, useRef, useState } from "preact/hooks";
import uPlot from "uplot";
import { ADMIN_CHANGED, api, message, session, type Page, type Query } from "./api";

// --- hash routing: #/page/segment?key=value ---

export interface Route {
  parts: string[];
  query: URLSearchParams;
}

function parse(hash: string): Route {
  const raw = hash.replace(/^#\/?/, "");
  const [path, query] = raw.split("?", 2);
  return { parts: path.split("/").filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(query ?? "") };
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parse(location.hash));
  useEffect(() => {
    const on = () => setRoute(parse(location.hash));
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);
  return route;
}

/** `#/a/b?k=v` from parts and a query. */
export function href(parts: string[], query?: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) if (v) q.set(k, v);
  const s = q.toString();
  return `#/${parts.map(encodeURIComponent).join("/")}${s ? `?${s}` : ""}`;
}

export function go(parts: string[], query?: Record<string, string | undefined>): void {
  location.hash = href(parts, query);
}

// --- async state ---

export interface Async<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

/** Runs `load` when `deps` change (and on reload); keeps the last data while reloading. */
export function useAsync<T>(load: (signal: AbortSignal) => Promise<T>, deps: unknown[]): Async<T> {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({ loading: true });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const ctrl = new AbortController();
    setState((s) => ({ ...s, loading: true }));
    load(ctrl.signal).then(
      (data) => ctrl.signal.aborted || setState({ data, loading: false }),
      (error) => ctrl.signal.aborted || setState((s) => ({ data: s.data, error, loading: false })),
    );
    return () => ctrl.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data: state.data, error: state.error, loading: state.loading, reload };
}

/** Calls `fn` every `ms` while `active`. */
export function usePoll(fn: () => void, ms: number, active: boolean): void {
  const saved = useRef(fn);
  saved.current = fn;
  useEffect(() => {
    if (!active) return;
    const id = setInterval(() => saved.current(), ms);
    return () => clearInterval(id);
  }, [ms, active]);
}

/** An action's busy flag and error: `run(fn)` clears the error, awaits, keeps the error. */
export function useAction(): {
  busy: boolean;
  error: unknown;
  setError: (e: unknown) => void;
  run: <T>(fn: () => Promise<T>) => Promise<T | undefined>;
} {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const run = useCallback(async <T,>(fn: () => Promise<T>) => {
    setBusy(true);
    setError(undefined);
    try {
      return await fn();
    } catch (e) {
      setError(e);
      return undefined;
    } finally {
      setBusy(false);
    }
  }, []);
  return { busy, error, setError, run };
}

// --- components ---

export function ErrorBox({ error }: { error: unknown }) {
  if (error === undefined || error === null) return null;
  return (
    <p class="error" role="alert">
      {message(error)}
    </p>
  );
}

/** A labelled control: `children` is one element, given an id the label points at (a
 * label wrapping a select would name it with the selected option's text too). */
export function Field({ label, children, hint, wide }: { label: string; children: VNode<any>; hint?: string; wide?: boolean }) {
  const generated = useId();
  const id = (children.props as { id?: string }).id ?? generated;
  return (
    <div class={wide ? "field wide" : "field"}>
      <label class="label" for={id}>
        {label}
      </label>
      {cloneElement(children, { id, "aria-describedby": hint ? `${id}-hint` : undefined })}
      {hint && (
        <span class="hint" id={`${id}-hint`}>
          {hint}
        </span>
      )}
    </div>
  );
}

export function Loading({ when }: { when: boolean }) {
  return when ? (
    <p class="muted" role="status">
      Loading…
    </p>
  ) : null;
}

export function Json({ value, label }: { value: unknown; label?: string }) {
  return (
    <pre class="json" tabIndex={0} role="group" aria-label={label ?? "JSON"}>
      {JSON.stringify(value, null, 2)}
    </pre>
  );
}

export function Status({ value }: { value: string }) {
  return <span class={`badge badge-${value}`}>{value}</span>;
}

/** Previous/next over a cursor list: `after` of each page visited is kept in a stack. */
export function usePager(deps: unknown[]): {
  after: string | undefined;
  next: (lastId: string | null | undefined) => void;
  prev: () => void;
  reset: () => void;
  depth: number;
} {
  const [stack, setStack] = useState<string[]>([]);
  useEffect(() => setStack([]), deps); // eslint-disable-line react-hooks/exhaustive-deps
  return {
    after: stack[stack.length - 1],
    next: (lastId) => lastId && setStack((s) => [...s, lastId]),
    prev: () => setStack((s) => s.slice(0, -1)),
    reset: () => setStack([]),
    depth: stack.length,
  };
}

export function Pager({ page, pager, label }: { page: Page<unknown> | undefined; pager: ReturnType<typeof usePager>; label: string }) {
  return (
    <nav class="pager" aria-label={`${label} pages`}>
      <button type="button" onClick={pager.prev} disabled={pager.depth === 0}>
        Previous page
      </button>
      <span class="muted">Page {pager.depth + 1}</span>
      <button type="button" onClick={() => pager.next(page?.last_id)} disabled={!page?.has_more}>
        Next page
      </button>
    </nav>
  );
}

export function Section({ title, children, actions }: { title: string; children: ComponentChildren; actions?: ComponentChildren }) {
  return (
    <section class="card" aria-label={title}>
      <div class="card-head">
        <h2>{title}</h2>
        {actions && <div class="actions">{actions}</div>}
      </div>
      {children}
    </section>
  );
}

export function Form({ onSubmit, children, label }: { onSubmit: () => void; children: ComponentChildren; label: string }) {
  const submit = (e: JSX.TargetedEvent<HTMLFormElement>) => {
    e.preventDefault();
    onSubmit();
  };
  return (
    <form onSubmit={submit} aria-label={label}>
      {children}
    </form>
  );
}

/** `{k: v}` pairs from "k=v" lines (blank lines ignored). */
export function pairs(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const i = line.indexOf("=");
    if (line.trim() && i > 0) out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return out;
}

/** `metadata[k]=v` query parameters, as the SDK encodes a metadata filter. */
export function metadataQuery(filter: Record<string, string>): Query {
  const q: Query = {};
  for (const [k, v] of Object.entries(filter)) q[`metadata[${k}]`] = v;
  return q;
}

export function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${what} is not valid JSON: ${message(e)}`);
  }
}

/** Saves `content` as a file through a temporary object URL. */
export function download(name: string, content: BlobPart, type = "application/octet-stream"): void {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([content], { type }));
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

export function messageText(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) return content.map((p) => (p && typeof p === "object" && "text" in p ? String(p.text) : "")).join("");
  return content == null ? "" : JSON.stringify(content);
}

// --- charts ---

export interface ChartSeries {
  label: string;
  stroke: string;
  values: Array<number | null>;
}

/** A uPlot line chart of `series` over `x` (Unix seconds when `time`), redrawn in place
 * when its data changes; `label` names it for screen readers. */
export function Chart({ x, series, xLabel, yLabel, time, label, testId, format }: {
  x: number[];
  series: ChartSeries[];
  xLabel: string;
  yLabel: string;
  time?: boolean;
  label: string;
  testId?: string;
  /** The y axis's tick labels (uPlot's own when absent). */
  format?: (value: number) => string;
}) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const data: uPlot.AlignedData = [x, ...series.map((s) => s.values)];
  const shape = [xLabel, yLabel, ...series.map((s) => s.label)].join("|");
  const drawn = useRef("");
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const width = Math.max(200, Math.min(el.clientWidth || 640, 900));
    if (plot.current && drawn.current === shape) {
      plot.current.setData(data);
      return;
    }
    plot.current?.destroy();
    drawn.current = shape;
    // a single point gets room either side (half a day, or one step)
    const pad = time ? 43200 : 1;
    plot.current = new uPlot(
      {
        width,
        height: 260,
        scales: { x: { time: !!time, range: (_: uPlot, min: number, max: number) => (min === max ? [min - pad, max + pad] : [min, max]) } },
        axes: [{ label: xLabel }, { label: yLabel, ...(format ? { values: (_: uPlot, ticks: number[]) => ticks.map(format), size: 70 } : {}) }],
        series: [{ label: xLabel }, ...series.map((s) => ({ label: s.label, stroke: s.stroke, width: 2, points: { show: x.length < 60 } }))],
      },
      data,
      el,
    );
  });
  useEffect(() => {
    // follow the box's width (a phone turned, a window resized)
    const el = box.current;
    if (!el || typeof ResizeObserver === "undefined") return;
    const watch = new ResizeObserver(() => {
      const width = Math.max(200, Math.min(el.clientWidth, 900));
      if (plot.current && Math.abs(plot.current.width - width) > 4) plot.current.setSize({ width, height: 260 });
    });
    watch.observe(el);
    return () => {
      watch.disconnect();
      plot.current?.destroy();
    };
  }, []);
  return <div ref={box} class="chart-box" role="img" aria-label={label} data-testid={testId} />;
}

// --- the admin key ---

/** The admin key, re-read when it is added or forgotten. */
export function useAdminKey(): string | null {
  const [key, setKey] = useState(() => session.adminKey());
  useEffect(() => {
    const on = () => setKey(session.adminKey());
    window.addEventListener(ADMIN_CHANGED, on);
    return () => window.removeEventListener(ADMIN_CHANGED, on);
  }, []);
  return key;
}

/** Shows `children` once an admin key is stored; else says the page needs one, with the
 * field to add it (checked with `GET /v1/organization/projects` first). */
export function AdminGate({ what, children }: { what: string; children: ComponentChildren }) {
  const key = useAdminKey();
  const [value, setValue] = useState("");
  const action = useAction();
  if (key) return <>{children}</>;
  const add = () =>
    action.run(async () => {
      await api("/v1/organization/projects", { key: value.trim(), query: { limit: 1 } });
      session.setAdminKey(value.trim());
    });
  return (
    <section class="card" aria-label="Admin key needed">
      <h2>Admin key needed</h2>
      <p>
        {what} uses the Admin API (<code>/v1/organization/…</code>), which takes an admin key (<code>sk-admin-…</code>), not a project key. Hearth
        prints one at its first start, or takes it from <code>HEARTH_ADMIN_KEY</code>. It is kept in this tab only, like the project key.
      </p>
      <Form onSubmit={() => void add()} label="Add an admin key">
        <div class="row">
          <Field label="Admin key">
            <input type="password" autocomplete="off" required value={value} onInput={(e) => setValue(e.currentTarget.value)} placeholder="sk-admin-…" />
          </Field>
          <button type="submit" class="primary" disabled={action.busy || !value.trim()}>
            {action.busy ? "Checking…" : "Use admin key"}
          </button>
        </div>
      </Form>
      <ErrorBox error={action.error} />
    </section>
  );
}

/** Copies `text` to the clipboard, saying so. */
export function CopyButton({ text, label }: { text: string; label: string }) {
  const [done, setDone] = useState<string>("");
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setDone("Copied.");
    } catch {
      setDone("Copy failed: select the text and copy it.");
    }
  };
  return (
    <>
      <button type="button" onClick={() => void copy()} aria-label={label}>
        Copy
      </button>
      <span class="muted" role="status">
        {done}
      </span>
    </>
  );
}

/** A table that scrolls inside its own box at phone width (focusable, so the keyboard can
 * scroll it too): `head` is one cell per column, `children` the body's rows. */
export function Table({ head, children, class: cls }: { head: ComponentChildren[]; children: ComponentChildren; class?: string }) {
  return (
    <div class="table-wrap" tabIndex={0}>
      <table class={cls}>
        <thead>
          <tr>
            {head.map((h, n) => (
              <th scope="col" key={n}>
                {h}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  );
}
