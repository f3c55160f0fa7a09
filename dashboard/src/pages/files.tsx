// Files: list (filtered by purpose, paged), upload, download, delete.
import { useRef, useState } from "preact/hooks";
import { api, blob, bytes, type FileObject, type Page } from "../api";
import type { PageProps } from "../app";
import { download, ErrorBox, Field, Loading, Pager, Section, useAction, useAsync, usePager, Table } from "../ui";

const PURPOSES = ["fine-tune", "evals", "user_data", "assistants", "batch", "vision"];

export function Files(_: PageProps) {
  const [purpose, setPurpose] = useState("");
  const pager = usePager([purpose]);
  const list = useAsync(
    (signal) => api<Page<FileObject>>("/v1/files", { signal, query: { purpose: purpose || undefined, limit: 50, after: pager.after } }),
    [purpose, pager.after],
  );
  const row = useAction();
  const remove = (f: FileObject) => {
    if (!confirm(`Delete ${f.filename} (${f.id})?`)) return;
    void row.run(() => api(`/v1/files/${encodeURIComponent(f.id)}`, { method: "DELETE" }).then(list.reload));
  };
  const save = (f: FileObject) => void row.run(async () => download(f.filename, await blob(`/v1/files/${encodeURIComponent(f.id)}/content`)));
  return (
    <>
      <Upload onDone={list.reload} />
      <Section
        title="Files"
        actions={
          <Field label="Purpose">
            <select value={purpose} onChange={(e) => setPurpose(e.currentTarget.value)}>
              <option value="">all</option>
              {[...PURPOSES, "fine-tune-results"].map((p) => (
                <option key={p} value={p}>
                  {p}
                </option>
              ))}
            </select>
          </Field>
        }
      >
        <ErrorBox error={list.error ?? row.error} />
        <Loading when={list.loading && !list.data} />
        <Table head={["Name", "Id", "Purpose", "Size", "Created", "Actions"]}>
          {(list.data?.data ?? []).map((f) => (
            <tr key={f.id}>
              <td>{f.filename}</td>
              <td>
                <code>{f.id}</code>
              </td>
              <td>{f.purpose}</td>
              <td>{bytes(f.bytes)}</td>
              <td>{new Date(f.created_at * 1000).toLocaleString()}</td>
              <td class="actions">
                <button type="button" onClick={() => save(f)} aria-label={`Download ${f.filename}`}>
                  Download
                </button>
                <button type="button" onClick={() => remove(f)} aria-label={`Delete ${f.filename}`}>
                  Delete
                </button>
              </td>
            </tr>
          ))}
        </Table>
        {list.data && list.data.data.length === 0 && <p class="muted">No files.</p>}
        <Pager page={list.data} pager={pager} label="Files" />
      </Section>
    </>
  );
}

function Upload({ onDone }: { onDone: () => void }) {
  const input = useRef<HTMLInputElement>(null);
  const [purpose, setPurpose] = useState("fine-tune");
  const [done, setDone] = useState<FileObject | null>(null);
  const action = useAction();
  const upload = () =>
    action.run(async () => {
      const file = input.current?.files?.[0];
      if (!file) throw new Error("Choose a file to upload.");
      const form = new FormData();
      form.append("purpose", purpose);
      form.append("file", file);
      setDone(await api<FileObject>("/v1/files", { form }));
      if (input.current) input.current.value = "";
      onDone();
    });
  return (
    <form
      class="card row"
      aria-label="Upload a file"
      onSubmit={(e) => {
        e.preventDefault();
        void upload();
      }}
    >
      <Field label="File to upload">
        <input ref={input} type="file" />
      </Field>
      <Field label="Upload purpose">
        <select value={purpose} onChange={(e) => setPurpose(e.currentTarget.value)}>
          {PURPOSES.map((p) => (
            <option key={p} value={p}>
              {p}
            </option>
          ))}
        </select>
      </Field>
      <button type="submit" class="primary" disabled={action.busy}>
        {action.busy ? "Uploading…" : "Upload"}
      </button>
      <ErrorBox error={action.error} />
      {done && (
        <p role="status">
          Uploaded <code>{done.id}</code> ({done.filename}, {bytes(done.bytes)}).
        </p>
      )}
    </form>
  );
}
