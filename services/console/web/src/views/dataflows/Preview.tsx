// A preview's answer: the stage's first rows and what each stage passed.
import type { Schemas } from "../../api/client";

export function PreviewTable({ preview }: { preview: Schemas["Preview"] }) {
  const rows = preview.rows as Record<string, unknown>[];
  return (
    <section className="preview" aria-label={`preview of ${preview.stage}`}>
      <h3>
        Preview of <code>{preview.stage}</code>
      </h3>
      <p className="muted" role="status">
        {rows.length} row{rows.length === 1 ? "" : "s"}
        {preview.truncated ? " (more exist)" : ""} in {preview.elapsed_ms} ms on {preview.node}; nothing was
        written.
      </p>
      <table className="stage-counts">
        <caption>Rows through each stage</caption>
        <thead>
          <tr>
            <th scope="col">stage</th>
            <th scope="col">rows in</th>
            <th scope="col">rows out</th>
          </tr>
        </thead>
        <tbody>
          {preview.stages.map((s) => (
            <tr key={s.id}>
              <td>{s.id}</td>
              <td>{s.rows_in}</td>
              <td>{s.rows_out}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <div className="scroll">
        <table className="rows">
          <caption>First rows</caption>
          <thead>
            <tr>
              {preview.columns.map((c) => (
                <th scope="col" key={c.name} title={c.type}>
                  {c.name}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.map((row, i) => (
              <tr key={i}>
                {preview.columns.map((c) => (
                  <td key={c.name}>{row[c.name] === undefined || row[c.name] === null ? "" : String(row[c.name])}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
