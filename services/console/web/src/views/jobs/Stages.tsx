// What each stage of a run (or a preview) passed: rows in, rows out, time.
import type { Schemas } from "../../api/client";
import { Table } from "../../app/Table";

export function Stages({ stages, caption }: { stages: Schemas["StageStats"][]; caption: string }) {
  return (
    <Table
      caption={caption}
      rows={stages}
      rowKey={(s) => s.id}
      columns={[
        { label: "stage", cell: (s) => s.id },
        { label: "rows in", cell: (s) => s.rows_in },
        { label: "rows out", cell: (s) => s.rows_out },
        { label: "ms", cell: (s) => s.elapsed_ms },
      ]}
    />
  );
}
