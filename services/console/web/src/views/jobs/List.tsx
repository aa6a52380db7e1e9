// Jobs, newest first, one page at a time (the API's cursor: nothing more is
// loaded than a page), filtered by status, dataflow and time.
import { useState, type FormEvent } from "react";
import { api, need } from "../../api/client";
import { go, href } from "../../app/route";
import { Table } from "../../app/Table";
import { Loading, Page, Status, Time, useLoad } from "../../app/ui";

const STATUSES = ["", "queued", "running", "succeeded", "failed", "cancelled"];
const PAGE = 50;

export function JobList({ query }: { query: URLSearchParams }) {
  const status = query.get("status") ?? "";
  const dataflow = query.get("dataflow") ?? "";
  const before = query.get("before") ?? "";
  const cursor = query.get("cursor") ?? "";
  const loaded = useLoad(
    () =>
      need(
        api.GET("/v1/jobs", {
          params: {
            query: {
              status: status || undefined,
              dataflow: dataflow || undefined,
              created_before: before ? new Date(before).toISOString() : undefined,
              cursor: cursor || undefined,
              limit: PAGE,
            },
          },
        }),
      ),
    [status, dataflow, before, cursor],
  );
  const [form, setForm] = useState({ status, dataflow, before });
  const filter = (event: FormEvent) => {
    event.preventDefault();
    go(["jobs"], form);
  };
  return (
    <Page title="Jobs">
      <form className="toolbar" onSubmit={filter} aria-label="Filter jobs">
        <label className="inline">
          Status
          <select name="status" value={form.status} onChange={(e) => setForm({ ...form, status: e.target.value })}>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s || "any"}
              </option>
            ))}
          </select>
        </label>
        <label className="inline">
          Dataflow
          <input name="dataflow" value={form.dataflow} onChange={(e) => setForm({ ...form, dataflow: e.target.value })} />
        </label>
        <label className="inline">
          Created before
          <input
            name="before"
            type="datetime-local"
            value={form.before}
            onChange={(e) => setForm({ ...form, before: e.target.value })}
          />
        </label>
        <button type="submit">Filter</button>
      </form>
      <Loading loaded={loaded} />
      {loaded.data ? (
        <>
          <Table
            label="jobs"
            rows={loaded.data.jobs}
            rowKey={(job) => job.id}
            columns={[
              { label: "job", cell: (job) => <a href={href(["jobs", job.id])}>{job.id.slice(-12)}</a> },
              { label: "dataflow", cell: (job) => job.dataflow },
              { label: "status", cell: (job) => <Status status={job.status} /> },
              { label: "created", cell: (job) => <Time at={job.created_at} /> },
              { label: "rows read", cell: (job) => job.rows_read },
              { label: "rows written", cell: (job) => job.rows_written },
            ]}
          />
          {loaded.data.jobs.length === 0 ? <p className="muted">No jobs.</p> : null}
          <div className="toolbar">
            {cursor ? <a href={href(["jobs"], { status, dataflow, before })}>Newest</a> : null}
            {loaded.data.next_cursor ? (
              <a href={href(["jobs"], { status, dataflow, before, cursor: loaded.data.next_cursor })}>Older</a>
            ) : null}
          </div>
        </>
      ) : null}
    </Page>
  );
}
