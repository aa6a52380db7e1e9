// Two versions of a dataflow, line by line (a longest-common-subsequence diff of
// their formatted documents: a few hundred lines at most).
import { api, need } from "../../api/client";
import { go, href } from "../../app/route";
import { Loading, Page, useLoad } from "../../app/ui";
import { format } from "./document";

type Line = { kind: "same" | "removed" | "added"; text: string };

export function diffLines(a: string[], b: string[]): Line[] {
  const n = a.length;
  const m = b.length;
  const common: number[][] = Array.from({ length: n + 1 }, () => new Array(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--)
      common[i][j] = a[i] === b[j] ? common[i + 1][j + 1] + 1 : Math.max(common[i + 1][j], common[i][j + 1]);
  const lines: Line[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) {
      lines.push({ kind: "same", text: a[i] });
      i++;
      j++;
    } else if (j < m && (i === n || common[i][j + 1] >= common[i + 1][j])) {
      lines.push({ kind: "added", text: b[j++] });
    } else {
      lines.push({ kind: "removed", text: a[i++] });
    }
  }
  return lines;
}

export function Diff({ name, query }: { name: string; query: URLSearchParams }) {
  const a = Number(query.get("a") ?? 1);
  const b = Number(query.get("b") ?? 1);
  const loaded = useLoad(async () => {
    const latest = await need(api.GET("/v1/dataflows/{name}", { params: { path: { name } } }));
    const version = (v: number) =>
      need(api.GET("/v1/dataflows/{name}/versions/{version}", { params: { path: { name, version: String(v) } } }));
    const [left, right] = await Promise.all([version(a), version(b)]);
    return { latest: latest.version, left, right };
  }, [name, a, b]);
  const choose = (which: "a" | "b", value: string) =>
    go(["dataflows", name, "diff"], { a: which === "a" ? value : String(a), b: which === "b" ? value : String(b) });
  return (
    <Page title={`Dataflow ${name}: versions ${a} and ${b}`} actions={<a href={href(["dataflows", name])}>Designer</a>}>
      <Loading loaded={loaded} />
      {loaded.data ? (
        <>
          <div className="toolbar">
            {(["a", "b"] as const).map((which) => (
              <label className="inline" key={which}>
                {which === "a" ? "From version" : "To version"}
                <select value={which === "a" ? a : b} onChange={(e) => choose(which, e.target.value)}>
                  {Array.from({ length: loaded.data!.latest }, (_, i) => i + 1).map((v) => (
                    <option key={v}>{v}</option>
                  ))}
                </select>
              </label>
            ))}
          </div>
          <pre className="diff" aria-label="differences">
            {diffLines(
              format(loaded.data.left.document).split("\n"),
              format(loaded.data.right.document).split("\n"),
            ).map((line, i) => (
              <div key={i} className={`diff-${line.kind}`}>
                {line.kind === "added" ? "+ " : line.kind === "removed" ? "- " : "  "}
                {line.text}
              </div>
            ))}
          </pre>
        </>
      ) : null}
    </Page>
  );
}
