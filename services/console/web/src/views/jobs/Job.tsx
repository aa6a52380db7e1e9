// One job: its state and statistics, followed until it ends, and its own log,
// streamed by the API (`follow=true`) until the job ends.
import { useEffect, useRef, useState } from "react";
import { api, need, type Schemas } from "../../api/client";
import { href } from "../../app/route";
import { useCan } from "../../app/session";
import { Failure, Page, Status, Time } from "../../app/ui";
import { Stages } from "./Stages";

const ENDED = new Set(["succeeded", "failed", "cancelled"]);

type LogLine = { time?: string; level?: string; stage?: string; message?: string; [k: string]: unknown };

function useJob(id: string) {
  const [job, setJob] = useState<Schemas["Job"]>();
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    let live = true;
    let timer = 0;
    const poll = async () => {
      try {
        const next = await need(api.GET("/v1/jobs/{id}", { params: { path: { id } } }));
        if (!live) return;
        setJob(next);
        if (!ENDED.has(next.status)) timer = window.setTimeout(poll, 500);
      } catch (e) {
        if (live) setError(e);
      }
    };
    void poll();
    return () => {
      live = false;
      window.clearTimeout(timer);
    };
  }, [id]);
  return { job, error, setJob };
}

function Log({ id }: { id: string }) {
  const [lines, setLines] = useState<LogLine[]>([]);
  const [error, setError] = useState<unknown>();
  const [ended, setEnded] = useState(false);
  const stop = useRef<AbortController>(undefined);
  useEffect(() => {
    const abort = new AbortController();
    stop.current = abort;
    (async () => {
      const { response } = await api.GET("/v1/jobs/{id}/logs", {
        params: { path: { id }, query: { follow: true } },
        parseAs: "stream",
        signal: abort.signal,
      });
      if (!response.ok || !response.body) {
        setError(new Error(`the log cannot be read: ${response.status}`));
        return;
      }
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let rest = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        rest += value;
        const complete = rest.split("\n");
        rest = complete.pop() ?? "";
        const parsed = complete.filter(Boolean).map((l) => {
          try {
            return JSON.parse(l) as LogLine;
          } catch {
            return { message: l };
          }
        });
        if (parsed.length) setLines((old) => [...old, ...parsed].slice(-2000));
      }
      setEnded(true);
    })().catch((e) => {
      if (!abort.signal.aborted) setError(e);
    });
    return () => abort.abort();
  }, [id]);
  return (
    <section aria-labelledby="log-title">
      <h2 id="log-title">Log {ended ? <span className="muted">(complete)</span> : <span className="muted">(following)</span>}</h2>
      <Failure error={error} />
      <pre className="log" aria-label="job log" tabIndex={0}>
        {lines.map((l, i) => (
          <div key={i} className={`log-${l.level ?? "info"}`}>
            {l.time ? `${l.time} ` : ""}
            {l.level ? `${l.level.toUpperCase()} ` : ""}
            {l.stage ? `[${l.stage}] ` : ""}
            {l.message}
            {Object.entries(l)
              .filter(([k]) => !["time", "level", "stage", "message", "job_id", "node", "attempt"].includes(k))
              .map(([k, v]) => ` ${k}=${typeof v === "object" ? JSON.stringify(v) : String(v)}`)
              .join("")}
          </div>
        ))}
      </pre>
    </section>
  );
}

export function JobPage({ id }: { id: string }) {
  const can = useCan();
  const { job, error, setJob } = useJob(id);
  const [cancelError, setCancelError] = useState<unknown>();
  const [showLog, setShowLog] = useState(false);
  if (error) return <Failure error={error} />;
  if (!job) return <p className="muted">Loading…</p>;
  const cancel = async () => {
    try {
      setJob(await need(api.POST("/v1/jobs/{id}/cancel", { params: { path: { id } } })));
    } catch (e) {
      setCancelError(e);
    }
  };
  return (
    <Page
      title={`Job ${job.id}`}
      actions={
        !ENDED.has(job.status) && can("modify", "jobs", job.dataflow) ? (
          <button type="button" className="danger" onClick={cancel}>
            Cancel
          </button>
        ) : null
      }
    >
      <Failure error={cancelError} />
      <dl className="facts">
        <dt>status</dt>
        <dd data-testid="job-status">
          <Status status={job.status} />
        </dd>
        <dt>dataflow</dt>
        <dd>
          <a href={href(["dataflows", job.dataflow])}>{job.dataflow}</a> version {job.version}
        </dd>
        <dt>parameters</dt>
        <dd>
          {Object.entries(job.parameters).map(([k, v]) => `${k}=${v}`).join(", ") || <span className="muted">none</span>}
        </dd>
        <dt>submitted by</dt>
        <dd>{job.submitted_by ?? job.schedule ?? "—"}</dd>
        <dt>created</dt>
        <dd>
          <Time at={job.created_at} />
        </dd>
        <dt>started</dt>
        <dd>
          <Time at={job.started_at} />
        </dd>
        <dt>finished</dt>
        <dd>
          <Time at={job.finished_at} />
        </dd>
        <dt>attempt</dt>
        <dd>
          {job.attempt} {job.executor ? `on ${job.executor}` : ""}
        </dd>
        <dt>rows read</dt>
        <dd data-testid="rows-read">{job.rows_read}</dd>
        <dt>rows written</dt>
        <dd data-testid="rows-written">{job.rows_written}</dd>
        {job.error ? (
          <>
            <dt>error</dt>
            <dd className="failure">{job.error}</dd>
          </>
        ) : null}
      </dl>
      <Stages stages={job.stages} caption="Stages" />
      {showLog ? (
        <Log id={id} />
      ) : (
        <button type="button" onClick={() => setShowLog(true)}>
          Open the log
        </button>
      )}
    </Page>
  );
}
