// The shell: sign in with an API key and, optionally, an admin key (sessionStorage only),
// navigation, sign out.
// Each page is one entry of PAGES: a new API gets a page by adding a module and a line.
import type { ComponentChildren, FunctionComponent } from "preact";
import { useEffect, useErrorBoundary, useRef, useState } from "preact/hooks";
import { api, message, session, UNAUTHORIZED, type Model, type Page } from "./api";
import { ErrorBox, Field, href, useAdminKey, useRoute, type Route } from "./ui";
import { Playground } from "./pages/playground";
import { Logs } from "./pages/logs";
import { Files } from "./pages/files";
import { Models } from "./pages/models";
import { FineTuning } from "./pages/fine-tuning";
import { Evals } from "./pages/evals";
import { ApiKeys } from "./pages/api-keys";
import { Usage } from "./pages/usage";

export interface PageProps {
  route: Route;
}

interface PageEntry {
  path: string;
  title: string;
  component: FunctionComponent<PageProps>;
}

export const PAGES: PageEntry[] = [
  { path: "playground", title: "Playground", component: Playground },
  { path: "logs", title: "Logs", component: Logs },
  { path: "evals", title: "Evals", component: Evals },
  { path: "fine-tuning", title: "Fine-tuning", component: FineTuning },
  { path: "files", title: "Files", component: Files },
  { path: "models", title: "Models", component: Models },
  { path: "api-keys", title: "API keys", component: ApiKeys },
  { path: "usage", title: "Usage", component: Usage },
];

export function App() {
  const [signedIn, setSignedIn] = useState(() => session.key() !== null);
  const [notice, setNotice] = useState<string | undefined>();
  useEffect(() => {
    const on = (e: Event) => {
      session.signOut();
      setNotice(`Signed out: ${(e as CustomEvent<string>).detail}`);
      setSignedIn(false);
    };
    window.addEventListener(UNAUTHORIZED, on);
    return () => window.removeEventListener(UNAUTHORIZED, on);
  }, []);
  if (!signedIn)
    return (
      <SignIn
        notice={notice}
        onDone={() => {
          setNotice(undefined);
          setSignedIn(true);
        }}
      />
    );
  return (
    <Shell
      onSignOut={() => {
        session.signOut();
        setSignedIn(false);
      }}
    />
  );
}

function SignIn({ onDone, notice }: { onDone: () => void; notice?: string }) {
  const [key, setKey] = useState("");
  const [adminKey, setAdminKey] = useState("");
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await api<Page<Model>>("/v1/models", { key: key.trim() });
      if (adminKey.trim())
        await api("/v1/organization/projects", { key: adminKey.trim(), query: { limit: 1 } }).catch((e: unknown) => {
          throw new Error(`Admin key: ${message(e)}`);
        });
      session.signIn(key.trim());
      session.setAdminKey(adminKey.trim() || null);
      if (!location.hash || location.hash === "#/") location.hash = "#/playground";
      onDone();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main id="main" class="signin">
      <h1>Hearth</h1>
      <p>Sign in with an API key of this server. The keys are kept in this tab only (sessionStorage) and sent to this server alone.</p>
      {notice && (
        <p class="notice" role="status">
          {notice}
        </p>
      )}
      <form onSubmit={submit} aria-label="Sign in">
        <Field label="API key">
          <input
            id="api-key"
            type="password"
            autocomplete="off"
            required
            value={key}
            onInput={(e) => setKey(e.currentTarget.value)}
            placeholder="sk-hearth-…"
          />
        </Field>
        <Field label="Admin key (optional)" hint="For the API keys and Usage pages (the Admin API).">
          <input
            id="admin-key"
            type="password"
            autocomplete="off"
            value={adminKey}
            onInput={(e) => setAdminKey(e.currentTarget.value)}
            placeholder="sk-admin-…"
          />
        </Field>
        <button type="submit" class="primary" disabled={busy || !key.trim()}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
      <ErrorBox error={error} />
    </main>
  );
}

function Shell({ onSignOut }: { onSignOut: () => void }) {
  const route = useRoute();
  const current = PAGES.find((p) => p.path === route.parts[0]);
  const main = useRef<HTMLElement>(null);
  const adminKey = useAdminKey();
  useEffect(() => {
    if (!current) location.replace("#/playground");
  }, [current]);
  useEffect(() => {
    document.title = current ? `${current.title} · Hearth` : "Hearth";
  }, [current]);
  const Page = current?.component;
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => (e.preventDefault(), main.current?.focus())}>
        Skip to content
      </a>
      <header class="top">
        <span class="brand">Hearth</span>
        <nav aria-label="Pages">
          <ul>
            {PAGES.map((p) => (
              <li key={p.path}>
                <a href={href([p.path])} aria-current={p === current ? "page" : undefined}>
                  {p.title}
                </a>
              </li>
            ))}
            <li>
              <a href="/realtime" target="_blank" rel="noopener">
                Realtime
              </a>
            </li>
          </ul>
        </nav>
        {adminKey && (
          <button type="button" class="signout" onClick={() => session.setAdminKey(null)}>
            Forget admin key
          </button>
        )}
        <button type="button" class="signout" onClick={onSignOut}>
          Sign out
        </button>
      </header>
      <main id="main" ref={main} tabIndex={-1}>
        {Page && current && (
          <>
            <h1>{current.title}</h1>
            <Guard key={current.path}>
              <Page route={route} />
            </Guard>
          </>
        )}
      </main>
    </>
  );
}

/** Keeps a page's crash on screen as a message instead of a blank page. */
function Guard({ children }: { children: ComponentChildren }) {
  const [error] = useErrorBoundary();
  if (error !== undefined)
    return (
      <p class="error" role="alert">
        This page failed: {message(error)}
      </p>
    );
  return <>{children}</>;
}
