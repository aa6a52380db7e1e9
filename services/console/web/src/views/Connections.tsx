// Connections: what each reaches, a test of each, and a form to add or change one.
// Credentials are named secrets, never values: the form asks for the secret's name.
import { useState, type FormEvent } from "react";
import { api, need, type Schemas } from "../api/client";
import { useCan } from "../app/session";
import { Table } from "../app/Table";
import { Failure, Loading, Notice, Page, useLoad } from "../app/ui";

type Spec = Schemas["ConnectionSpec"];

const FIELDS: Record<string, { name: keyof Spec; label: string; kind?: "number" | "secret" | "flag" }[]> = {
  local: [{ name: "root", label: "Root directory" }],
  postgres: [
    { name: "host", label: "Host" },
    { name: "port", label: "Port", kind: "number" },
    { name: "database", label: "Database" },
    { name: "user", label: "User" },
    { name: "password", label: "Password (a secret's name)", kind: "secret" },
    { name: "sslmode", label: "TLS mode" },
  ],
  s3: [
    { name: "endpoint", label: "Endpoint" },
    { name: "region", label: "Region" },
    { name: "bucket", label: "Bucket" },
    { name: "prefix", label: "Prefix" },
    { name: "access_key_id", label: "Access key id (a secret's name)", kind: "secret" },
    { name: "secret_access_key", label: "Secret access key (a secret's name)", kind: "secret" },
    { name: "path_style", label: "Path-style addressing", kind: "flag" },
    { name: "allow_http", label: "Allow plain HTTP", kind: "flag" },
  ],
};

function describe(c: Schemas["Connection"]): string {
  if (c.kind === "local") return c.root ?? "";
  if (c.kind === "postgres") return `${c.user ?? ""}@${c.host ?? ""}:${c.port ?? ""}/${c.database ?? ""}`;
  return `${c.endpoint ?? ""} ${c.bucket ?? ""}/${c.prefix ?? ""}`;
}

function ConnectionForm({ onSaved }: { onSaved: () => void }) {
  const [name, setName] = useState("");
  const [kind, setKind] = useState("local");
  const [values, setValues] = useState<Record<string, string | boolean>>({});
  const [error, setError] = useState<unknown>();
  const [done, setDone] = useState<string>();
  async function save(event: FormEvent) {
    event.preventDefault();
    setError(undefined);
    setDone(undefined);
    const spec: Record<string, unknown> = { kind };
    for (const f of FIELDS[kind]) {
      const v = values[f.name];
      if (v === undefined || v === "") continue;
      spec[f.name] = f.kind === "number" ? Number(v) : f.kind === "secret" ? { secret: v } : v;
    }
    try {
      const { response } = await api.PUT("/v1/connections/{name}", {
        params: { path: { name } },
        body: spec as Spec,
      }).then(async (answer) => {
        await need(Promise.resolve(answer));
        return answer;
      });
      setDone(response.status === 201 ? `Connection ${name} created.` : `Connection ${name} changed.`);
      onSaved();
    } catch (e) {
      setError(e);
    }
  }
  return (
    <form className="card" onSubmit={save} aria-labelledby="connection-form-title">
      <h2 id="connection-form-title">Add or change a connection</h2>
      <label>
        Name
        <input name="connection-name" value={name} onChange={(e) => setName(e.target.value)} required />
      </label>
      <label>
        Kind
        <select name="connection-kind" value={kind} onChange={(e) => setKind(e.target.value)}>
          {Object.keys(FIELDS).map((k) => (
            <option key={k}>{k}</option>
          ))}
        </select>
      </label>
      {FIELDS[kind].map((f) =>
        f.kind === "flag" ? (
          <label key={f.name} className="choice">
            <input
              type="checkbox"
              name={f.name}
              checked={values[f.name] === true}
              onChange={(e) => setValues({ ...values, [f.name]: e.target.checked })}
            />
            {f.label}
          </label>
        ) : (
          <label key={f.name}>
            {f.label}
            <input
              name={f.name}
              type={f.kind === "number" ? "number" : "text"}
              value={String(values[f.name] ?? "")}
              onChange={(e) => setValues({ ...values, [f.name]: e.target.value })}
            />
          </label>
        ),
      )}
      <button type="submit">Save connection</button>
      {done ? <Notice>{done}</Notice> : null}
      <Failure error={error} />
    </form>
  );
}

function TestButton({ name }: { name: string }) {
  const [result, setResult] = useState<Schemas["ConnectionTest"]>();
  const [error, setError] = useState<unknown>();
  async function test() {
    setError(undefined);
    try {
      setResult(await need(api.POST("/v1/connections/{name}/test", { params: { path: { name } } })));
    } catch (e) {
      setError(e);
    }
  }
  return (
    <>
      <button type="button" onClick={test}>
        Test {name}
      </button>
      {result ? (
        <span role="status" className={result.ok ? "ok" : "failure"}>
          {" "}
          {result.ok ? `reachable (${result.latency_ms} ms)` : `${result.error}: ${result.message}`}
        </span>
      ) : null}
      <Failure error={error} />
    </>
  );
}

export function Connections() {
  const can = useCan();
  const loaded = useLoad(() => need(api.GET("/v1/connections")), []);
  return (
    <Page title="Connections">
      <Loading loaded={loaded} />
      {loaded.data ? (
        <Table
          label="connections"
          rows={loaded.data.connections}
          rowKey={(c) => c.name}
          columns={[
            { label: "name", cell: (c) => c.name },
            { label: "kind", cell: (c) => c.kind },
            { label: "reaches", cell: (c) => <code>{describe(c)}</code> },
            {
              label: "test",
              unlabelled: true,
              cell: (c) => (can("modify", "connections", c.name) ? <TestButton name={c.name} /> : null),
            },
          ]}
        />
      ) : null}
      {can("create", "connections") || can("modify", "connections") ? <ConnectionForm onSaved={loaded.reload} /> : null}
    </Page>
  );
}
