// Schedules: when each fires next, whether it is on, and its recent misfires
// (occurrences past their grace, recorded in the audit log as `schedule.misfired`,
// not fired), counted among the newest 200 audit entries.
import { useState } from "react";
import { api, need } from "../api/client";
import { href } from "../app/route";
import { useCan } from "../app/session";
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
        <table>
          <thead>
            <tr>
              <th scope="col">name</th>
              <th scope="col">dataflow</th>
              <th scope="col">cron (UTC)</th>
              <th scope="col">next occurrences</th>
              <th scope="col">enabled</th>
              <th scope="col">recent misfires</th>
              <th scope="col">owner</th>
            </tr>
          </thead>
          <tbody>
            {loaded.data.schedules.map((s) => (
              <tr key={s.name}>
                <td>{s.name}</td>
                <td>
                  <a href={href(["dataflows", s.dataflow])}>{s.dataflow}</a>
                </td>
                <td>
                  <code>{s.cron}</code>
                </td>
                <td>
                  {s.next_occurrences.map((at) => (
                    <div key={at}>
                      <Time at={at} />
                    </div>
                  ))}
                </td>
                <td>
                  {s.enabled ? "yes" : "no"}{" "}
                  {can("execute", "schedules", s.name) ? (
                    <button type="button" onClick={() => toggle(s.name, s.enabled)}>
                      {s.enabled ? `Disable ${s.name}` : `Enable ${s.name}`}
                    </button>
                  ) : null}
                </td>
                <td>{misfires.data?.filter((e) => e.target === `schedule/${s.name}`).length ?? "—"}</td>
                <td>{s.owner}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </Page>
  );
}
