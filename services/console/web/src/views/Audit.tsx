// The audit log, newest first, a page at a time; a filter over the page shown,
// and following: new entries are fetched every two seconds and put on top.
import { useEffect, useState } from "react";
import { api, need, type Schemas } from "../api/client";
import { Table } from "../app/Table";
import { Failure, Page, Time } from "../app/ui";

type Entry = Schemas["AuditEntry"];
const PAGE = 100;

export function Audit() {
  const [entries, setEntries] = useState<Entry[]>([]);
  const [older, setOlder] = useState<string | null>();
  const [error, setError] = useState<unknown>();
  const [filter, setFilter] = useState("");
  const [follow, setFollow] = useState(false);

  async function page(cursor?: string) {
    try {
      const answer = await need(
        api.GET("/v1/audit", { params: { query: { newest: true, limit: PAGE, cursor } } }),
      );
      setEntries((old) => (cursor ? [...old, ...answer.entries] : answer.entries));
      setOlder(answer.next_cursor);
    } catch (e) {
      setError(e);
    }
  }
  useEffect(() => {
    void page();
  }, []);
  useEffect(() => {
    if (!follow) return;
    const timer = window.setInterval(async () => {
      try {
        const answer = await need(api.GET("/v1/audit", { params: { query: { newest: true, limit: PAGE } } }));
        setEntries((old) => {
          const top = old[0]?.seq ?? "";
          const fresh = answer.entries.filter((e) => e.seq > top);
          return [...fresh, ...old];
        });
      } catch (e) {
        setError(e);
      }
    }, 2000);
    return () => window.clearInterval(timer);
  }, [follow]);

  const needle = filter.toLowerCase();
  const shown = needle
    ? entries.filter((e) => `${e.actor} ${e.action} ${e.target}`.toLowerCase().includes(needle))
    : entries;
  return (
    <Page title="Audit log">
      <div className="toolbar">
        <label className="inline">
          Filter (actor, action, target)
          <input name="filter" value={filter} onChange={(e) => setFilter(e.target.value)} />
        </label>
        <label className="choice">
          <input type="checkbox" name="follow" checked={follow} onChange={(e) => setFollow(e.target.checked)} />
          Follow new entries
        </label>
      </div>
      <Failure error={error} />
      <Table
        label="audit entries"
        rows={shown}
        rowKey={(e) => e.seq}
        columns={[
          { label: "time", cell: (e) => <Time at={e.time} /> },
          { label: "actor", cell: (e) => e.actor },
          { label: "action", cell: (e) => e.action },
          { label: "target", cell: (e) => e.target },
        ]}
      />
      {older ? (
        <button type="button" onClick={() => page(older)}>
          Older entries
        </button>
      ) : null}
    </Page>
  );
}
