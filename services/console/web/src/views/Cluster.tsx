// The cluster's processes, their health, and draining an executor.
import { useState } from "react";
import { api, need } from "../api/client";
import { useCan } from "../app/session";
import { Failure, Loading, Page, Time, useLoad } from "../app/ui";

export function Cluster() {
  const can = useCan();
  const loaded = useLoad(() => need(api.GET("/v1/cluster/nodes")), []);
  const [error, setError] = useState<unknown>();
  async function drain(id: string) {
    setError(undefined);
    try {
      await need(api.POST("/v1/cluster/nodes/{id}/drain", { params: { path: { id } } }));
      loaded.reload();
    } catch (e) {
      setError(e);
    }
  }
  return (
    <Page title="Cluster" actions={<button type="button" onClick={loaded.reload}>Refresh</button>}>
      <Failure error={error} />
      <Loading loaded={loaded} />
      {loaded.data ? (
        <table>
          <thead>
            <tr>
              <th scope="col">node</th>
              <th scope="col">role</th>
              <th scope="col">host</th>
              <th scope="col">health</th>
              <th scope="col">jobs running</th>
              <th scope="col">heartbeat</th>
              <th scope="col">version</th>
              <th scope="col">
                <span className="visually-hidden">actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {loaded.data.nodes.map((n) => (
              <tr key={n.id}>
                <td>{n.id}</td>
                <td>{n.role}</td>
                <td>{n.host}</td>
                <td>
                  {n.health}
                  {n.draining ? " (draining)" : ""}
                </td>
                <td>{n.in_flight}</td>
                <td>
                  <Time at={n.heartbeat_at} />
                </td>
                <td>{n.version}</td>
                <td>
                  {can("modify", "cluster", n.id) && n.role.includes("executor") && !n.draining ? (
                    <button type="button" className="danger" onClick={() => drain(n.id)}>
                      Drain {n.id}
                    </button>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </Page>
  );
}
