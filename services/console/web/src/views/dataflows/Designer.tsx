// The designer: the document's text and its graph side by side, kept in step
// (the text is parsed into the graph; an edit in the graph or the stage form is
// written back into the text). Problems come from the server's own check, a dry
// run of a save, and are shown on the stage and field they name. A preview runs
// the document as it stands up to the chosen stage; saving makes a version only
// when the document changed.
import { useEffect, useMemo, useRef, useState } from "react";
import { api, ApiFailure, need, type Schemas } from "../../api/client";
import { go, href } from "../../app/route";
import { useCan } from "../../app/session";
import { Failure, Notice, Page } from "../../app/ui";
import { RunForm } from "../jobs/RunForm";
import {
  format,
  freshId,
  NEW_STAGES,
  parse,
  problemPlace,
  withoutStage,
  withStage,
  type DataflowDocument,
} from "./document";
import { Graph } from "./Graph";
import { PreviewTable } from "./Preview";
import { StageForm } from "./StageForm";

const TEMPLATE: DataflowDocument = { kind: "job", parameters: {}, stages: [] };
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

type Problem = Schemas["DataflowProblem"];

/** The text itself, sent as it is (never re-serialized), so a save is byte-exact. */
const asText = (text: string) => ({ bodySerializer: () => text, headers: { "content-type": "application/json" } });

function problemsOf(error: unknown): Problem[] | undefined {
  if (!(error instanceof ApiFailure)) return undefined;
  const details = error.details as { problems?: Problem[] } | undefined;
  return details?.problems;
}

export function Designer({ name: initialName, isNew }: { name: string; isNew: boolean }) {
  const can = useCan();
  const [name, setName] = useState(initialName);
  const [text, setText] = useState(isNew ? format(TEMPLATE) : "");
  const [saved, setSaved] = useState<Schemas["DataflowVersion"]>();
  const [loadError, setLoadError] = useState<unknown>();
  const [selected, setSelected] = useState<string>();
  const [check, setCheck] = useState<Schemas["DataflowCheck"]>();
  const [preview, setPreview] = useState<Schemas["Preview"]>();
  const [previewError, setPreviewError] = useState<unknown>();
  const [previewing, setPreviewing] = useState(false);
  const [message, setMessage] = useState<string>();
  const [saveError, setSaveError] = useState<unknown>();
  const [newType, setNewType] = useState("sql");

  const exists = !isNew;
  const editable = exists ? can("modify", "dataflows", name) : can("create", "dataflows", name || "x");
  const runnable = exists && can("execute", "dataflows", name);
  const nameOk = NAME.test(name);

  useEffect(() => {
    if (isNew) return;
    need(api.GET("/v1/dataflows/{name}", { params: { path: { name: initialName } } })).then(
      (version) => {
        setSaved(version);
        setText(format(version.document));
      },
      setLoadError,
    );
  }, [initialName, isNew]);

  const parsed = useMemo(() => parse(text), [text]);
  // While the text does not parse, the graph shows the last document that did,
  // and offers no edit (it would overwrite what is being typed).
  const lastGood = useRef<DataflowDocument>(undefined);
  if (parsed.document) lastGood.current = parsed.document;
  const document = parsed.document;
  const drawn = document ?? lastGood.current;

  // The server's check of the text as it stands, a moment after the last edit.
  useEffect(() => {
    if (!text || !nameOk) return;
    const timer = window.setTimeout(() => {
      need(
        api.POST("/v1/dataflows/{name}/validate", {
          params: { path: { name } },
          body: {} as Schemas["DataflowDocument"],
          ...asText(text),
        }),
      ).then(setCheck, () => setCheck(undefined));
    }, 300);
    return () => window.clearTimeout(timer);
  }, [text, name, nameOk]);

  const problems = check?.problems ?? [];
  const byStage = new Map<string, string[]>();
  const placeOf = (p: Problem) => {
    const { index, field } = problemPlace(p.field);
    const stage = p.stage ?? (index !== undefined ? document?.stages[index]?.id : undefined);
    return { stage, field };
  };
  for (const p of problems) {
    const { stage } = placeOf(p);
    if (stage) byStage.set(stage, [...(byStage.get(stage) ?? []), p.message]);
  }
  const documentProblems = problems.filter((p) => !placeOf(p).stage);

  const edit = (next: DataflowDocument) => {
    setText(format(next));
    setMessage(undefined);
  };
  const stageIndex = document?.stages.findIndex((s) => s.id === selected) ?? -1;
  const stage = stageIndex >= 0 ? document?.stages[stageIndex] : undefined;

  function addStage() {
    if (!document) return;
    const id = freshId(document, newType);
    const previous = document.stages.at(-1)?.id;
    edit({ ...document, stages: [...document.stages, NEW_STAGES[newType](id, previous)] });
    setSelected(id);
  }

  async function runPreview() {
    if (!document || !selected) return;
    setPreviewing(true);
    setPreviewError(undefined);
    try {
      const parameters = Object.fromEntries(
        Object.entries(document.parameters ?? {}).map(([k, v]) => [k, v ?? ""]),
      );
      setPreview(
        await need(
          api.POST("/v1/dataflows/{name}/preview", {
            params: { path: { name } },
            body: { document, stage: selected, parameters, limit: 100 },
          }),
        ),
      );
    } catch (e) {
      setPreview(undefined);
      setPreviewError(e);
    } finally {
      setPreviewing(false);
    }
  }

  async function save() {
    setSaveError(undefined);
    setMessage(undefined);
    try {
      const { data, error, response } = await api.PUT("/v1/dataflows/{name}", {
        params: { path: { name } },
        body: {} as Schemas["DataflowDocument"],
        ...asText(text),
      });
      if (!response.ok) {
        await need(Promise.resolve({ data, error, response }));
        return;
      }
      setMessage(
        response.status === 201
          ? `Saved version ${data!.version}.`
          : `No change: version ${data!.version} is already this document, so no version was made.`,
      );
      if (isNew) go(["dataflows", name]);
      else setSaved(await need(api.GET("/v1/dataflows/{name}", { params: { path: { name } } })));
    } catch (e) {
      setSaveError(e);
      const found = problemsOf(e);
      if (found) setCheck({ valid: false, problems: found, changed: true });
    }
  }

  if (loadError) return <Failure error={loadError} />;
  if (!isNew && !saved) return <p className="muted">Loading…</p>;
  const stageProblems = stage
    ? problems.filter((p) => placeOf(p).stage === stage.id).map((p) => ({ field: placeOf(p).field, message: p.message }))
    : [];
  return (
    <Page
      title={isNew ? "New dataflow" : `Dataflow ${name}`}
      actions={
        <>
          {exists ? <a href={href(["jobs"], { dataflow: name })}>Jobs</a> : null}
          {editable ? (
            <button type="button" onClick={save} disabled={!nameOk || !document}>
              Save
            </button>
          ) : null}
        </>
      }
    >
      {isNew ? (
        <label className="inline">
          Name
          <input name="dataflow-name" value={name} onChange={(e) => setName(e.target.value)} aria-invalid={!nameOk} />
        </label>
      ) : (
        <p className="muted">
          Latest version {saved?.version}
          {saved && saved.version > 1 ? (
            <>
              {" · "}
              <a href={href(["dataflows", name, "diff"], { a: String(saved.version - 1), b: String(saved.version) })}>
                compare versions
              </a>
            </>
          ) : null}
          {check && !check.changed ? " · the document is the latest version" : ""}
          {check && check.changed && check.valid ? " · changed, not saved" : ""}
        </p>
      )}
      {message ? <Notice>{message}</Notice> : null}
      <Failure error={saveError} />
      {documentProblems.length ? (
        <ul className="problems" aria-label="Problems of the document">
          {documentProblems.map((p, i) => (
            <li key={i} role="alert">
              {p.field}: {p.message}
            </li>
          ))}
        </ul>
      ) : null}
      <div className="designer">
        <div className="designer-text">
          <label htmlFor="document-text">Document (JSON)</label>
          <textarea
            id="document-text"
            name="document"
            spellCheck={false}
            value={text}
            readOnly={!editable}
            onChange={(e) => {
              setText(e.target.value);
              setMessage(undefined);
            }}
          />
          {parsed.error ? (
            <p className="field-problem" role="alert">
              {parsed.error}
            </p>
          ) : null}
        </div>
        <div className="designer-graph">
          {drawn ? (
            <Graph
              stages={drawn.stages}
              selected={selected}
              problems={byStage}
              counts={preview ? new Map(preview.stages.map((s) => [s.id, s.rows_out])) : undefined}
              onSelect={setSelected}
            />
          ) : null}
          {document && editable ? (
            <div className="toolbar">
              <label className="inline">
                New stage
                <select name="new-stage-type" value={newType} onChange={(e) => setNewType(e.target.value)}>
                  {Object.keys(NEW_STAGES).map((t) => (
                    <option key={t}>{t}</option>
                  ))}
                </select>
              </label>
              <button type="button" onClick={addStage}>
                Add stage
              </button>
              {stage ? (
                <button
                  type="button"
                  className="danger"
                  onClick={() => {
                    edit(withoutStage(document, stageIndex));
                    setSelected(undefined);
                  }}
                >
                  Delete stage {stage.id}
                </button>
              ) : null}
            </div>
          ) : null}
          {stage && document ? (
            <>
              <StageForm
                key={stage.id}
                stage={stage}
                earlier={document.stages.slice(0, stageIndex).map((s) => s.id)}
                problems={stageProblems}
                editable={editable}
                onChange={(next) => edit(withStage(document, stageIndex, next))}
              />
              {can("execute", "dataflows", name || "x") && nameOk ? (
                <button type="button" onClick={runPreview} disabled={previewing}>
                  {previewing ? "Previewing…" : `Preview ${stage.id}`}
                </button>
              ) : null}
            </>
          ) : document && document.stages.length ? (
            <p className="muted">Choose a stage to see its fields and preview its rows.</p>
          ) : null}
          <Failure error={previewError} />
          {preview ? <PreviewTable preview={preview} /> : null}
        </div>
      </div>
      {runnable && saved && (saved.document as DataflowDocument).kind === "job" ? (
        <RunForm
          key={saved.version}
          dataflow={name}
          parameters={(saved.document as DataflowDocument).parameters ?? {}}
        />
      ) : null}
    </Page>
  );
}
