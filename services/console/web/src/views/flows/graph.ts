// A process flow's activities as the graph draws them: each activity a box, each
// transition an arrow from the activity it leaves.
import type { Stage } from "../dataflows/document";

type Activity = { id?: unknown; type?: unknown };
type Transition = { from?: unknown; to?: unknown };

export function asStages(document: Record<string, unknown>): Stage[] {
  const activities = (Array.isArray(document.activities) ? document.activities : []) as Activity[];
  const transitions = (Array.isArray(document.transitions) ? document.transitions : []) as Transition[];
  return activities
    .filter((a) => typeof a.id === "string")
    .map((a) => ({
      id: a.id as string,
      type: typeof a.type === "string" ? a.type : "?",
      inputs: transitions.filter((t) => t.to === a.id && typeof t.from === "string").map((t) => t.from as string),
    }));
}
