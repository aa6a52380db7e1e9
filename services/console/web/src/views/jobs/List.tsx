// Jobs, newest first, one page at a time (the API's cursor: nothing more is
// loaded than a page), filtered by status, dataflow and time.
import { useState, type FormEvent } from "react";
import { api, need } from "../../api/client";
import { go, href } from "../../app/route";
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
          <table aria-label="jobs">
            <thead>
              <tr>
                <th scope="col">job</th>
                <th scope="col">dataflow</th>
                <th scope="col">status</th>
                <th scope="col">created</th>
                <th scope="col">rows read</th>
                <th scope="col">rows written</th>
              </tr>
            </thead>
            <tbody>
              {loaded.data.jobs.map((job) => (
                <tr key={job.id}>
                  <td>
                    <a href={href(["jobs", job.id])}>{job.id.slice(-12)}</a>
                  </td>
                  <td>{job.dataflow}</td>
                  <td>
                    <Status status={job.status} />
                  </td>
                  <td>
                    <Time at={job.created_at} />
                  </td>
                  <td>{job.rows_read}</td>
                  <td>{job.rows_written}</td>
                </tr>
              ))}
            </tbody>
          </table>
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
