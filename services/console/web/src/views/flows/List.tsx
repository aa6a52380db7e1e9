// Process flows, and the approvals inbox: each approval waiting for a decision the
// user may make (the API answers only those), approved or rejected here.
import { useState } from "react";
import { api, need } from "../../api/client";
import { href } from "../../app/route";
import { Table } from "../../app/Table";
import { Failure, Loading, Page, Time, useLoad } from "../../app/ui";

export function FlowList() {
  const flows = useLoad(() => need(api.GET("/v1/processflows")), []);
  return (
    <Page title="Process flows">
      <Loading loaded={flows} />
      {flows.data ? (
        <Table
          label="process flows"
          rows={flows.data.processflows}
          rowKey={(f) => f.name}
          columns={[
            { label: "name", cell: (f) => <a href={href(["flows", f.name])}>{f.name}</a> },
            { label: "latest version", cell: (f) => f.latest_version },
            { label: "updated", cell: (f) => <Time at={f.updated_at} /> },
          ]}
        />
      ) : null}
      <Inbox />
    </Page>
  );
}

function Inbox() {
  const inbox = useLoad(() => need(api.GET("/v1/approvals")), []);
  const [error, setError] = useState<unknown>();
  async function decide(run: string, activity: string, decision: "approve" | "reject") {
    setError(undefined);
    const comment = window.prompt(`Comment on ${decision === "approve" ? "approving" : "rejecting"} ${activity}`) ?? "";
    try {
      await need(
        api.POST("/v1/processflow-runs/{id}/approvals/{activity}", {
          params: { path: { id: run, activity } },
          body: { decision, comment },
        }),
      );
      inbox.reload();
    } catch (e) {
      setError(e);
    }
  }
  return (
    <section aria-labelledby="inbox-title">
      <h2 id="inbox-title">Approvals waiting for you</h2>
      <Failure error={error} />
      <Loading loaded={inbox} />
      {inbox.data && inbox.data.approvals.length === 0 ? <p className="muted">Nothing waits for your decision.</p> : null}
      {inbox.data && inbox.data.approvals.length > 0 ? (
        <Table
          label="approvals"
          rows={inbox.data.approvals}
          rowKey={(a) => `${a.run}/${a.activity}`}
          columns={[
            { label: "flow", cell: (a) => a.flow },
            { label: "run", cell: (a) => <a href={href(["flow-runs", a.run])}>{a.run.slice(0, 13)}…</a> },
            { label: "approval", cell: (a) => a.activity },
            { label: "role", cell: (a) => a.role },
            { label: "waiting since", cell: (a) => <Time at={a.since} /> },
            { label: "timeout", cell: (a) => <>{a.on_timeout} at <Time at={a.due} /></> },
            {
              label: "decide",
              unlabelled: true,
              cell: (a) => (
                <>
                  <button type="button" onClick={() => decide(a.run, a.activity, "approve")}>Approve</button>{" "}
                  <button type="button" onClick={() => decide(a.run, a.activity, "reject")}>Reject</button>
                </>
              ),
            },
          ]}
        />
      ) : null}
    </section>
  );
}
