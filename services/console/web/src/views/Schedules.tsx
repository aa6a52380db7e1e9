// Schedules: when each fires next, whether it is on, and its recent misfires
// (occurrences past their grace, recorded in the audit log as `schedule.misfired`,
// not fired), counted among the newest 200 audit entries.
import { useState } from "react";
import { api, need } from "../api/client";
import { href } from "../app/route";
import { useCan } from "../app/session";
import { Table } from "../app/Table";
import { Failure, Loading, Page, Time, useLoad } from "../app/ui";

export function Schedules() {
  const can = useCan();
  const loaded = useLoad(() => need(api.GET("/v1/schedules")), []);
  const misfires = useLoad(async () => {
    if (!can("view", "audit")) return [];
    const page = await need(api.GET("/v1/audit", { params: { query: { newest: true, limit: 200 } } }));
    return page.entries.filter((e) => e.action === "schedule.misfired");
  }, []);
  const [error, setError] = useState<unknown>();
  async function toggle(name: string, enabled: boolean) {
    setError(undefined);
    try {
      const path = enabled ? "/v1/schedules/{name}/disable" : "/v1/schedules/{name}/enable";
      await need(api.POST(path, { params: { path: { name } } }));
      loaded.reload();
    } catch (e) {
      setError(e);
    }
  }
  return (
    <Page title="Schedules">
      <Failure error={error} />
      <Loading loaded={loaded} />
      {loaded.data ? (
        <Table
          label="schedules"
          rows={loaded.data.schedules}
          rowKey={(s) => s.name}
          columns={[
            { label: "name", cell: (s) => s.name },
            {
              label: "runs",
              cell: (s) =>
                s.processflow ? (
                  <a href={href(["flows", s.processflow])}>flow {s.processflow}</a>
                ) : (
                  <a href={href(["dataflows", s.dataflow ?? ""])}>{s.dataflow}</a>
                ),
            },
            { label: "cron (UTC)", cell: (s) => <code>{s.cron}</code> },
            {
              label: "next occurrences",
              cell: (s) =>
                s.next_occurrences.map((at) => (
                  <div key={at}>
                    <Time at={at} />
                  </div>
                )),
            },
            {
              label: "enabled",
              cell: (s) => (
                <>
                  {s.enabled ? "yes" : "no"}{" "}
                  {can("execute", "schedules", s.name) ? (
                    <button type="button" onClick={() => toggle(s.name, s.enabled)}>
                      {s.enabled ? `Disable ${s.name}` : `Enable ${s.name}`}
                    </button>
                  ) : null}
                </>
              ),
            },
            {
              label: "recent misfires",
              cell: (s) => misfires.data?.filter((e) => e.target === `schedule/${s.name}`).length ?? "—",
            },
            { label: "owner", cell: (s) => s.owner },
          ]}
        />
      ) : null}
    </Page>
  );
}
