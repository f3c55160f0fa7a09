// Models: what this server serves to the caller's organization; fine-tuned ones can be
// deleted, chat ones opened in the playground.
import { api, isChatModel, type Model, type Page } from "../api";
import type { PageProps } from "../app";
import { ErrorBox, href, Loading, Section, useAction, useAsync, Table } from "../ui";

export function Models(_: PageProps) {
  const list = useAsync((signal) => api<Page<Model>>("/v1/models", { signal }), []);
  const action = useAction();
  const remove = (id: string) => {
    if (!confirm(`Delete the fine-tuned model ${id}?`)) return;
    void action.run(() => api(`/v1/models/${encodeURIComponent(id)}`, { method: "DELETE" }).then(list.reload));
  };
  return (
    <Section title="Served models">
      <ErrorBox error={list.error ?? action.error} />
      <Loading when={list.loading && !list.data} />
      <Table head={["Model", "Kind", "Owned by", "Actions"]}>
        {(list.data?.data ?? []).map((m) => {
          const tuned = m.id.startsWith("ft:");
          return (
            <tr key={m.id}>
              <td>
                <code>{m.id}</code>
              </td>
              <td>{tuned ? "fine-tuned" : isChatModel(m.id) ? "chat / completions" : "speech or embeddings"}</td>
              <td>{m.owned_by}</td>
              <td class="actions">
                {isChatModel(m.id) && <a href={href(["playground"], { model: m.id })}>Open in playground</a>}
                {tuned && (
                  <button type="button" onClick={() => remove(m.id)} aria-label={`Delete ${m.id}`}>
                    Delete
                  </button>
                )}
              </td>
            </tr>
          );
        })}
      </Table>
    </Section>
  );
}
