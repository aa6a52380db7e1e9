// Users, roles and what they grant, for those who may see them; and the server's
// own explanation of one decision (`POST /v1/authz/check`).
import { useState, type FormEvent } from "react";
import { api, need, type Schemas } from "../api/client";
import { useCan } from "../app/session";
import { Table } from "../app/Table";
import { Failure, Loading, Page, useLoad } from "../app/ui";

const ACTIONS = ["view", "create", "modify", "delete", "execute"];
const ENTITIES = ["dataflows", "processflows", "jobs", "connections", "schedules", "services", "secrets", "users", "roles", "audit", "cluster"];

function Check() {
  const [question, setQuestion] = useState({ user: "", action: "view", entity: "dataflows", name: "" });
  const [answer, setAnswer] = useState<Schemas["AuthzAnswer"]>();
  const [error, setError] = useState<unknown>();
  async function ask(event: FormEvent) {
    event.preventDefault();
    setError(undefined);
    try {
      setAnswer(
        await need(
          api.POST("/v1/authz/check", {
            body: {
              user: question.user || undefined,
              action: question.action,
              entity: question.entity,
              name: question.name || undefined,
            },
          }),
        ),
      );
    } catch (e) {
      setAnswer(undefined);
      setError(e);
    }
  }
  return (
    <form className="card" onSubmit={ask} aria-labelledby="check-title">
      <h2 id="check-title">May this user do that?</h2>
      <div className="toolbar">
        <label className="inline">
          User (empty: you)
          <input name="check-user" value={question.user} onChange={(e) => setQuestion({ ...question, user: e.target.value })} />
        </label>
        <label className="inline">
          Action
          <select name="check-action" value={question.action} onChange={(e) => setQuestion({ ...question, action: e.target.value })}>
            {ACTIONS.map((a) => (
              <option key={a}>{a}</option>
            ))}
          </select>
        </label>
        <label className="inline">
          Entity
          <select name="check-entity" value={question.entity} onChange={(e) => setQuestion({ ...question, entity: e.target.value })}>
            {ENTITIES.map((a) => (
              <option key={a}>{a}</option>
            ))}
          </select>
        </label>
        <label className="inline">
          Name
          <input name="check-name" value={question.name} onChange={(e) => setQuestion({ ...question, name: e.target.value })} />
        </label>
        <button type="submit">Check</button>
      </div>
      <Failure error={error} />
      {answer ? (
        <p role="status" className={answer.allowed ? "ok" : "failure"}>
          {answer.user}: {answer.permission} is {answer.allowed ? "allowed" : "refused"}, because {answer.because}
        </p>
      ) : null}
    </form>
  );
}

export function Access() {
  const can = useCan();
  const users = useLoad(() => (can("view", "users") ? need(api.GET("/v1/users")) : Promise.resolve(undefined)), []);
  const roles = useLoad(() => (can("view", "roles") ? need(api.GET("/v1/roles")) : Promise.resolve(undefined)), []);
  return (
    <Page title="Users and roles">
      <Check />
      <Loading loaded={users} />
      {users.data ? (
        <Table
          caption="Users"
          rows={users.data.users}
          rowKey={(u) => u.name}
          columns={[
            { label: "user", cell: (u) => u.name },
            { label: "roles", cell: (u) => u.roles.join(", ") },
            { label: "disabled", cell: (u) => (u.disabled ? "yes" : "no") },
          ]}
        />
      ) : null}
      <Loading loaded={roles} />
      {roles.data ? (
        <Table
          caption="Roles"
          rows={roles.data.roles}
          rowKey={(r) => r.name}
          columns={[
            {
              label: "role",
              cell: (r) => (
                <>
                  {r.name}
                  {r.builtin ? <span className="muted"> (built in)</span> : null}
                </>
              ),
            },
            {
              label: "grants",
              cell: (r) =>
                r.grants.map((g, i) => (
                  <div key={i}>
                    {g.actions.join(", ")} on {g.entity}/{g.match}
                  </div>
                )),
            },
          ]}
        />
      ) : null}
    </Page>
  );
}
