// One process flow: its latest version as a graph, its runs (newest first), and a
// button to start one (for those who may execute it).
import { useState } from "react";
import { api, need } from "../../api/client";
import { go, href } from "../../app/route";
import { useCan } from "../../app/session";
import { Table } from "../../app/Table";
import { Failure, Loading, Page, Status, Time, useLoad } from "../../app/ui";
import { Graph } from "../dataflows/Graph";
import { asStages } from "./graph";

export function FlowPage({ name }: { name: string }) {
  const can = useCan();
  const flow = useLoad(() => need(api.GET("/v1/processflows/{name}", { params: { path: { name } } })), [name]);
  const runs = useLoad(
    () => need(api.GET("/v1/processflows/{name}/runs", { params: { path: { name }, query: { limit: 50 } } })),
    [name],
  );
  const [error, setError] = useState<unknown>();
  async function start() {
    setError(undefined);
    try {
      const run = await need(
        api.POST("/v1/processflows/{name}/runs", { params: { path: { name } }, body: { parameters: {} } }),
      );
      go(["flow-runs", run.id]);
    } catch (e) {
      setError(e);
    }
  }
  const actions = can("execute", "processflows", name) ? (
    <button type="button" onClick={start}>
      Start a run
    </button>
  ) : null;
  return (
    <Page title={`Process flow ${name}`} actions={actions}>
      <Failure error={error} />
      <Loading loaded={flow} />
      {flow.data ? (
        <>
          <p className="muted">Version {flow.data.version}</p>
          <Graph
            stages={asStages(flow.data.document)}
            problems={new Map()}
            noun="activity"
            onSelect={() => undefined}
          />
        </>
      ) : null}
      <h2>Runs</h2>
      <Loading loaded={runs} />
      {runs.data ? (
        <Table
          label="runs"
          rows={runs.data.runs}
          rowKey={(r) => r.id}
          columns={[
            { label: "run", cell: (r) => <a href={href(["flow-runs", r.id])}>{r.id}</a> },
            { label: "state", cell: (r) => <Status status={r.state} /> },
            { label: "version", cell: (r) => r.flow_version },
            { label: "by", cell: (r) => r.submitted_by },
            { label: "started", cell: (r) => <Time at={r.created_at} /> },
            { label: "ended", cell: (r) => <Time at={r.finished_at} /> },
          ]}
        />
      ) : null}
    </Page>
  );
}
