import { api, need } from "../../api/client";
import { href } from "../../app/route";
import { useCan } from "../../app/session";
import { Table } from "../../app/Table";
import { Loading, Page, Time, useLoad } from "../../app/ui";

export function DataflowList() {
  const can = useCan();
  const loaded = useLoad(() => need(api.GET("/v1/dataflows")), []);
  return (
    <Page
      title="Dataflows"
      actions={can("create", "dataflows") ? <a className="button" href={href(["new-dataflow"])}>New dataflow</a> : null}
    >
      <Loading loaded={loaded} />
      {loaded.data ? (
        <Table
          label="dataflows"
          rows={loaded.data.dataflows}
          rowKey={(d) => d.name}
          columns={[
            { label: "name", cell: (d) => <a href={href(["dataflows", d.name])}>{d.name}</a> },
            { label: "latest version", cell: (d) => d.latest_version },
            { label: "saved", cell: (d) => <Time at={d.updated_at} /> },
          ]}
        />
      ) : null}
    </Page>
  );
}
