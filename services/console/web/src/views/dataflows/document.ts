// A dataflow document as the designer edits it. The text is the truth: the graph
// is drawn from the parsed text, and an edit made in the graph is written back as
// the text, formatted as `format` formats it, so a document the designer did not
// change is sent back byte for byte as it was loaded.

export type Stage = {
  id: string;
  type: string;
  inputs?: string[];
  input?: string;
  [field: string]: unknown;
};

export type DataflowDocument = {
  kind: string;
  parameters?: Record<string, string | null>;
  stages: Stage[];
  [field: string]: unknown;
};

export type Parsed = { document: DataflowDocument; error?: undefined } | { document?: undefined; error: string };

/** How the designer writes a document: two-space JSON, as `GET` answers it. */
export function format(document: unknown): string {
  return JSON.stringify(document, null, 2);
}

export function parse(text: string): Parsed {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return { error: `not JSON: ${(e as Error).message}` };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { error: "a dataflow document is a JSON object" };
  }
  const document = value as DataflowDocument;
  if (!Array.isArray(document.stages)) return { error: "the document has no list of stages" };
  return { document };
}

/** The stages a stage reads from. */
export function inputsOf(stage: Stage): string[] {
  if (Array.isArray(stage.inputs)) return stage.inputs.filter((s) => typeof s === "string");
  if (typeof stage.input === "string") return [stage.input];
  return [];
}

/** Stage kinds the designer can add, each with the fields it starts with. */
export const NEW_STAGES: Record<string, (id: string, previous?: string) => Stage> = {
  read: (id) => ({ id, type: "read", connection: "", path: "", format: "csv" }),
  sql: (id, previous) => ({
    id,
    type: "sql",
    inputs: previous ? [previous] : [],
    query: previous ? `SELECT * FROM ${previous}` : "SELECT 1",
  }),
  write: (id, previous) => ({ id, type: "write", input: previous ?? "", connection: "", path: "", format: "csv" }),
  delay: (id) => ({ id, type: "delay", milliseconds: 1000 }),
};

/** A fresh id for a stage of `type`: `sql`, `sql_2`, … */
export function freshId(document: DataflowDocument, type: string): string {
  const taken = new Set(document.stages.map((s) => s.id));
  if (!taken.has(type)) return type;
  for (let n = 2; ; n++) if (!taken.has(`${type}_${n}`)) return `${type}_${n}`;
}

/** The document with stage `index` replaced (renaming it renames its uses). */
export function withStage(document: DataflowDocument, index: number, stage: Stage): DataflowDocument {
  const old = document.stages[index];
  const stages = document.stages.map((s, i) => {
    if (i === index) return stage;
    if (old && old.id !== stage.id) return renamedInput(s, old.id, stage.id);
    return s;
  });
  return { ...document, stages };
}

function renamedInput(stage: Stage, from: string, to: string): Stage {
  if (Array.isArray(stage.inputs)) return { ...stage, inputs: stage.inputs.map((i) => (i === from ? to : i)) };
  if (stage.input === from) return { ...stage, input: to };
  return stage;
}

export function withoutStage(document: DataflowDocument, index: number): DataflowDocument {
  return { ...document, stages: document.stages.filter((_, i) => i !== index) };
}

/** Where each stage is drawn: columns by longest path from a source, rows in order. */
export function layout(stages: Stage[]): Map<string, { column: number; row: number }> {
  const column = new Map<string, number>();
  for (const stage of stages) {
    const before = inputsOf(stage).map((i) => (column.get(i) ?? -1) + 1);
    column.set(stage.id, Math.max(0, ...before));
  }
  const rows = new Map<number, number>();
  const placed = new Map<string, { column: number; row: number }>();
  for (const stage of stages) {
    const c = column.get(stage.id) ?? 0;
    const r = rows.get(c) ?? 0;
    rows.set(c, r + 1);
    placed.set(stage.id, { column: c, row: r });
  }
  return placed;
}

/** `stages[2].path` → stage 2, field `path`. */
export function problemPlace(field: string): { index?: number; field?: string } {
  const m = /^stages\[(\d+)\](?:\.([A-Za-z_]+))?/.exec(field);
  if (!m) return {};
  return { index: Number(m[1]), field: m[2] };
}
