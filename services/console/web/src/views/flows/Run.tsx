// One run of a process flow: its graph with each activity's state, each activity's
// job and attempt, every transition decided with the values it saw and why, the
// resume plan (asked for, then executed), and cancel. Polls while the run runs.
import { useEffect, useState } from "react";
import { api, need, type Schemas } from "../../api/client";
import { go, href } from "../../app/route";
import { useCan } from "../../app/session";
import { Table } from "../../app/Table";
import { Failure, Loading, Page, Status, Time, useLoad } from "../../app/ui";
import { Graph } from "../dataflows/Graph";
import { asStages } from "./graph";

export function RunPage({ id }: { id: string }) {
  const can = useCan();
  const run = useLoad(() => need(api.GET("/v1/processflow-runs/{id}", { params: { path: { id } } })), [id]);
  const flow = useLoad(async () => {
    if (!run.data) return undefined;
    const { flow, flow_version } = run.data;
    return need(
      api.GET("/v1/processflows/{name}/versions/{version}", {
        params: { path: { name: flow, version: String(flow_version) } },
      }),
    );
  }, [run.data?.flow, run.data?.flow_version]);
  const [plan, setPlan] = useState<Schemas["ResumePlan"]>();
  const [error, setError] = useState<unknown>();
  const running = run.data?.state === "running";
  useEffect(() => {
    if (!running) return;
    const timer = window.setInterval(() => run.reload(), 1000);
    return () => window.clearInterval(timer);
  }, [running]);

  async function resume(dryRun: boolean, latest = false) {
    setError(undefined);
    try {
      const answer = await need(
        api.POST("/v1/processflow-runs/{id}/resume", {
          params: { path: { id } },
          body: { from: "failed", dry_run: dryRun, latest },
        }),
      );
      if (answer.run) go(["flow-runs", answer.run.id]);
      else setPlan(answer);
    } catch (e) {
      setError(e);
    }
  }
  async function cancel() {
    setError(undefined);
    try {
      await need(api.POST("/v1/processflow-runs/{id}/cancel", { params: { path: { id } } }));
      run.reload();
    } catch (e) {
      setError(e);
    }
  }
  const data = run.data;
  const states = new Map((data?.activities ?? []).map((a) => [a.id, a.state]));
  const actions = data ? (
    <>
      {running && can("modify", "processflows", data.flow) ? (
        <button type="button" onClick={cancel}>
          Cancel run
        </button>
      ) : null}
      {!running && can("execute", "processflows", data.flow) ? (
        <button type="button" onClick={() => resume(true)}>
          Plan a resume
        </button>
      ) : null}
    </>
  ) : null;
  return (
    <Page title={`Run of ${data?.flow ?? "…"}`} actions={actions}>
      <Failure error={error} />
      <Loading loaded={run} />
      {data ? (
        <>
          <p>
            <Status status={data.state} /> <span className="muted">run {data.id}, version {data.flow_version}, by {data.submitted_by}</span>
            {data.resumed_from ? (
              <> · resumes <a href={href(["flow-runs", data.resumed_from])}>{data.resumed_from.slice(0, 13)}…</a></>
            ) : null}
            {data.parent_run ? (
              <> · child of <a href={href(["flow-runs", data.parent_run])}>{data.parent_run.slice(0, 13)}…</a></>
            ) : null}
          </p>
          {data.error ? <p className="error">{data.error}</p> : null}
          {flow.data ? (
            <Graph
              stages={asStages(flow.data.document)}
              problems={new Map()}
              states={states}
              noun="activity"
              onSelect={() => undefined}
            />
          ) : null}
          {plan ? <ResumePlan plan={plan} onResume={(latest) => resume(false, latest)} /> : null}
          <h2>Activities</h2>
          <Table
            label="activities"
            rows={data.activities}
            rowKey={(a) => a.id}
            columns={[
              { label: "activity", cell: (a) => a.id },
              { label: "state", cell: (a) => <Status status={a.state} /> },
              {
                label: "work",
                cell: (a) =>
                  a.job_id ? (
                    <a href={href(["jobs", a.job_id])}>job, attempt {a.attempt}</a>
                  ) : a.child_run ? (
                    <a href={href(["flow-runs", a.child_run])}>child run</a>
                  ) : a.items.length > 0 ? (
                    `${a.items.filter((i) => i.state === "succeeded").length} of ${a.items.length} items done`
                  ) : a.decided_by ? (
                    `decided by ${a.decided_by}${a.comment ? `: ${a.comment}` : ""}`
                  ) : (
                    ""
                  ),
              },
              { label: "rows written", cell: (a) => a.rows_written },
              { label: "started", cell: (a) => <Time at={a.started_at} /> },
              { label: "ended", cell: (a) => <Time at={a.finished_at} /> },
            ]}
          />
          <h2>Transitions decided</h2>
          <Table
            label="decisions"
            rows={data.decisions}
            rowKey={(d) => `${d.from}->${d.to}`}
            columns={[
              { label: "from", cell: (d) => d.from },
              { label: "to", cell: (d) => d.to },
              { label: "rule", cell: (d) => <code>{d.rule}</code> },
              { label: "values", cell: (d) => <code>{d.values}</code> },
              { label: "taken", cell: (d) => (d.taken ? "taken" : "not taken") },
              { label: "why", cell: (d) => d.why },
            ]}
          />
        </>
      ) : null}
    </Page>
  );
}

function ResumePlan({ plan, onResume }: { plan: Schemas["ResumePlan"]; onResume: (latest: boolean) => void }) {
  return (
    <section aria-labelledby="plan-title">
      <h2 id="plan-title">Resume plan</h2>
      <Table
        label="resume plan"
        rows={plan.plan}
        rowKey={(p) => p.activity}
        columns={[
          { label: "activity", cell: (p) => p.activity },
          { label: "action", cell: (p) => p.action },
          { label: "why", cell: (p) => p.why },
        ]}
      />
      {plan.changed.length > 0 ? (
        <p>
          Changed since the run:{" "}
          {plan.changed.map((c) => `${c.dataflow} (version ${c.pinned} then, ${c.latest} now)`).join(", ")}
        </p>
      ) : null}
      <button type="button" onClick={() => onResume(plan.changed.length > 0)}>
        {plan.changed.length > 0 ? "Resume with the latest versions" : "Resume"}
      </button>
    </section>
  );
}
