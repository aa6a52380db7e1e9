// A preview's answer: the stage's first rows and what each stage passed.
import type { Schemas } from "../../api/client";
import { Table } from "../../app/Table";
import { Stages } from "../jobs/Stages";

type Row = Record<string, unknown>;

export function PreviewTable({ preview }: { preview: Schemas["Preview"] }) {
  const rows = preview.rows as Row[];
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
      <Stages stages={preview.stages} caption="Rows through each stage" />
      <div className="scroll">
        <Table
          caption="First rows"
          className="rows"
          rows={rows}
          rowKey={(_, i) => String(i)}
          columns={preview.columns.map((c) => ({
            label: c.name,
            title: c.type,
            cell: (row: Row) => (row[c.name] === undefined || row[c.name] === null ? "" : String(row[c.name])),
          }))}
        />
      </div>
    </section>
  );
}
