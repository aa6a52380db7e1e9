// One stage's fields, edited in place: each change is written back to the
// document (and so to its text). Fields are shown as the document has them, so
// every kind of stage is edited the same way; a problem the server found in a
// field is shown under it.
import type { Stage } from "./document";

type Props = {
  stage: Stage;
  earlier: string[];
  problems: { field?: string; message: string }[];
  editable: boolean;
  onChange: (stage: Stage) => void;
};

function fieldText(value: unknown): string {
  if (typeof value === "string") return value;
  if (Array.isArray(value) && value.every((v) => typeof v === "string")) return value.join(", ");
  return JSON.stringify(value);
}

/** The text typed into a field, as the value of the same shape as before. */
function fieldValue(before: unknown, text: string): unknown {
  if (typeof before === "number") return text.trim() === "" ? 0 : Number(text);
  if (typeof before === "boolean") return text === "true";
  if (Array.isArray(before) && before.every((v) => typeof v === "string")) {
    return text.split(",").map((s) => s.trim()).filter(Boolean);
  }
  if (typeof before === "string" || before === undefined) return text;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export function StageForm({ stage, earlier, problems, editable, onChange }: Props) {
  const fields = Object.keys(stage).filter((k) => k !== "type" && k !== "inputs" && k !== "input");
  const problemOf = (field: string) => problems.filter((p) => p.field === field);
  const general = problems.filter((p) => !p.field || !(p.field in stage));
  const inputsField = Array.isArray(stage.inputs) ? "inputs" : typeof stage.input === "string" ? "input" : null;
  const id = (field: string) => `stage-field-${field}`;
  return (
    <form className="stage-form" aria-label={`stage ${stage.id}`} onSubmit={(e) => e.preventDefault()}>
      <h3>
        Stage <code>{stage.id}</code> <span className="muted">({stage.type})</span>
      </h3>
      {general.map((p, i) => (
        <p key={i} className="field-problem" role="alert">
          {p.message}
        </p>
      ))}
      {fields.map((field) => {
        const value = stage[field];
        const wrong = problemOf(field);
        const long = field === "query" || (typeof value === "string" && value.length > 60);
        const common = {
          id: id(field),
          name: field,
          "aria-invalid": wrong.length > 0 || undefined,
          "aria-describedby": wrong.length ? `${id(field)}-problem` : undefined,
          value: fieldText(value),
          onChange: (e: { target: { value: string } }) =>
            onChange({ ...stage, [field]: fieldValue(value, e.target.value) }),
        };
        return (
          <div className="field" key={field}>
            <label htmlFor={id(field)}>{field}</label>
            {!editable ? (
              <output id={id(field)} className="readonly">
                {fieldText(value)}
              </output>
            ) : long ? (
              <textarea rows={4} {...common} />
            ) : (
              <input {...common} />
            )}
            {wrong.length ? (
              <p className="field-problem" id={`${id(field)}-problem`} role="alert">
                {wrong.map((p) => p.message).join("; ")}
              </p>
            ) : null}
          </div>
        );
      })}
      {inputsField ? (
        <fieldset className="field">
          <legend>{inputsField === "inputs" ? "reads from" : "writes the rows of"}</legend>
          {earlier.length === 0 ? <span className="muted">no earlier stage</span> : null}
          {earlier.map((other) => {
            const chosen =
              inputsField === "inputs" ? (stage.inputs ?? []).includes(other) : stage.input === other;
            return (
              <label key={other} className="choice">
                <input
                  type={inputsField === "inputs" ? "checkbox" : "radio"}
                  name={`${stage.id}-${inputsField}`}
                  checked={chosen}
                  disabled={!editable}
                  onChange={(e) => {
                    if (inputsField === "input") onChange({ ...stage, input: other });
                    else {
                      const now = new Set(stage.inputs ?? []);
                      if (e.target.checked) now.add(other);
                      else now.delete(other);
                      onChange({ ...stage, inputs: earlier.filter((s) => now.has(s)) });
                    }
                  }}
                />
                {other}
              </label>
            );
          })}
          {problemOf(inputsField).map((p, i) => (
            <p key={i} className="field-problem" role="alert">
              {p.message}
            </p>
          ))}
        </fieldset>
      ) : null}
    </form>
  );
}
