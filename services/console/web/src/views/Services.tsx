// Real-time services: each one's calls, errors and latency, and a form to call it.
import { useState, type FormEvent } from "react";
import { api, need, type Schemas } from "../api/client";
import { useCan } from "../app/session";
import { Failure, Loading, Page, useLoad } from "../app/ui";

function Stats({ name }: { name: string }) {
  const stats = useLoad(
    () => need(api.GET("/v1/services/{name}/stats", { params: { path: { name }, query: { window: 3600 } } })),
    [name],
  );
  if (!stats.data) return <Loading loaded={stats} />;
  const s = stats.data;
  return (
    <span>
      {s.requests} calls, {s.errors} errors, p50 {s.p50_ms ?? "—"} ms, p99 {s.p99_ms ?? "—"} ms (last hour)
    </span>
  );
}

function CallForm({ name }: { name: string }) {
  const [rows, setRows] = useState('[{"name": "ann"}]');
  const [answer, setAnswer] = useState<Schemas["ServiceAnswer"]>();
  const [error, setError] = useState<unknown>();
  async function call(event: FormEvent) {
    event.preventDefault();
    setError(undefined);
    try {
      const parsed = JSON.parse(rows) as Record<string, unknown>[];
      setAnswer(await need(api.POST("/v1/services/{name}/invoke", { params: { path: { name } }, body: { rows: parsed } })));
    } catch (e) {
      setAnswer(undefined);
      setError(e);
    }
  }
  return (
    <form onSubmit={call} className="call-form" aria-label={`call ${name}`}>
      <label>
        Rows (JSON)
        <textarea name="rows" rows={3} value={rows} onChange={(e) => setRows(e.target.value)} />
      </label>
      <button type="submit">Call {name}</button>
      <Failure error={error} />
      {answer ? <pre aria-label="answer">{JSON.stringify(answer.rows, null, 2)}</pre> : null}
    </form>
  );
}

export function Services() {
  const can = useCan();
  const loaded = useLoad(() => need(api.GET("/v1/services")), []);
  return (
    <Page title="Services">
      <Loading loaded={loaded} />
      {loaded.data?.services.length === 0 ? <p className="muted">No service is exposed.</p> : null}
      {loaded.data?.services.map((s) => (
        <article key={s.name} className="card" aria-labelledby={`service-${s.name}`}>
          <h2 id={`service-${s.name}`}>{s.name}</h2>
          <p>
            dataflow {s.dataflow} version {s.version}
            {s.pinned ? " (pinned)" : " (follows the latest)"}, timeout {s.timeout_ms} ms, at most {s.max_inflight} in
            flight
          </p>
          <p>
            <Stats name={s.name} />
          </p>
          {can("execute", "services", s.name) ? <CallForm name={s.name} /> : null}
        </article>
      ))}
    </Page>
  );
}
