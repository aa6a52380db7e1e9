import { api, need } from "../../api/client";
import { href } from "../../app/route";
import { useCan } from "../../app/session";
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
        <table>
          <thead>
            <tr>
              <th scope="col">name</th>
              <th scope="col">latest version</th>
              <th scope="col">saved</th>
            </tr>
          </thead>
          <tbody>
            {loaded.data.dataflows.map((d) => (
              <tr key={d.name}>
                <td>
                  <a href={href(["dataflows", d.name])}>{d.name}</a>
                </td>
                <td>{d.latest_version}</td>
                <td>
                  <Time at={d.updated_at} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </Page>
  );
}
