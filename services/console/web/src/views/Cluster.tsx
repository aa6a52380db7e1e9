// The cluster's processes, their health, and draining an executor.
import { useState } from "react";
import { api, need } from "../api/client";
import { useCan } from "../app/session";
import { Table } from "../app/Table";
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
        <Table
          label="nodes"
          rows={loaded.data.nodes}
          rowKey={(n) => n.id}
          columns={[
            { label: "node", cell: (n) => n.id },
            { label: "role", cell: (n) => n.role },
            { label: "host", cell: (n) => n.host },
            { label: "health", cell: (n) => `${n.health}${n.draining ? " (draining)" : ""}` },
            { label: "jobs running", cell: (n) => n.in_flight },
            { label: "heartbeat", cell: (n) => <Time at={n.heartbeat_at} /> },
            { label: "version", cell: (n) => n.version },
            {
              label: "actions",
              unlabelled: true,
              cell: (n) =>
                can("modify", "cluster", n.id) && n.role.includes("executor") && !n.draining ? (
                  <button type="button" className="danger" onClick={() => drain(n.id)}>
                    Drain {n.id}
                  </button>
                ) : null,
            },
          ]}
        />
      ) : null}
    </Page>
  );
}
