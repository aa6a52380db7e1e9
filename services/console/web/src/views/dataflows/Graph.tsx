// The dataflow as a graph: each stage a box in the column of its depth, each
// channel an arrow from the stage it reads. A box is a button: choosing it opens
// the stage in the form beside the graph. Problems mark the box they name.
import { inputsOf, layout, type Stage } from "./document";

const W = 150;
const H = 54;
const GAP_X = 60;
const GAP_Y = 24;

export function Graph({
  stages,
  selected,
  problems,
  counts,
  states,
  noun = "stage",
  onSelect,
}: {
  stages: Stage[];
  selected?: string;
  problems: Map<string, string[]>;
  counts?: Map<string, number>;
  /** A run's state of each box (process flows). */
  states?: Map<string, string>;
  /** What a box is: a dataflow's stage, or a process flow's activity. */
  noun?: "stage" | "activity";
  onSelect: (id: string) => void;
}) {
  const placed = layout(stages);
  const at = (id: string) => {
    const p = placed.get(id) ?? { column: 0, row: 0 };
    return { x: 10 + p.column * (W + GAP_X), y: 10 + p.row * (H + GAP_Y) };
  };
  const columns = Math.max(1, ...[...placed.values()].map((p) => p.column + 1));
  const rows = Math.max(1, ...[...placed.values()].map((p) => p.row + 1));
  const width = 20 + columns * (W + GAP_X) - GAP_X;
  const height = 20 + rows * (H + GAP_Y) - GAP_Y;
  return (
    <div className="graph" role="group" aria-label={`${noun === "stage" ? "Stages" : "Activities"} as a graph`}>
      <svg width={width} height={height} viewBox={`0 0 ${width} ${height}`} aria-hidden="true">
        <defs>
          <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto">
            <path d="M0 0L10 5L0 10z" fill="#5c677d" />
          </marker>
        </defs>
        {stages.flatMap((stage) =>
          inputsOf(stage)
            .filter((input) => placed.has(input))
            .map((input) => {
              const a = at(input);
              const b = at(stage.id);
              return (
                <line
                  key={`${input}->${stage.id}`}
                  x1={a.x + W}
                  y1={a.y + H / 2}
                  x2={b.x - 2}
                  y2={b.y + H / 2}
                  stroke="#5c677d"
                  strokeWidth="1.5"
                  markerEnd="url(#arrow)"
                />
              );
            }),
        )}
      </svg>
      {stages.map((stage) => {
        const { x, y } = at(stage.id);
        const wrong = problems.get(stage.id);
        const count = counts?.get(stage.id);
        const state = states?.get(stage.id);
        const classes = [
          "node",
          `node-${stage.type}`,
          selected === stage.id ? "selected" : "",
          wrong ? "invalid" : "",
          state ? `state-${state}` : "",
        ];
        return (
          <button
            type="button"
            key={stage.id}
            className={classes.join(" ")}
            style={{ left: x, top: y, width: W, height: H }}
            aria-pressed={selected === stage.id}
            aria-label={`${noun} ${stage.id} (${stage.type})${state ? ` ${state}` : ""}${wrong ? `: ${wrong.join("; ")}` : ""}`}
            data-state={state}
            data-stage={stage.id}
            onClick={() => onSelect(stage.id)}
          >
            <span className="node-id">{stage.id}</span>
            <span className="node-type">
              {stage.type}
              {count !== undefined ? ` · ${count} rows` : ""}
              {state ? ` · ${state}` : ""}
            </span>
            {wrong ? <span className="node-problem">{wrong.length} problem{wrong.length > 1 ? "s" : ""}</span> : null}
          </button>
        );
      })}
    </div>
  );
}
