// Running a dataflow with parameters: one field per parameter its latest version
// declares (a default fills it; `null`, the job must give one).
import { useState, type FormEvent } from "react";
import { api, need } from "../../api/client";
import { go } from "../../app/route";
import { Failure } from "../../app/ui";

export function RunForm({ dataflow, parameters }: { dataflow: string; parameters: Record<string, string | null> }) {
  const [values, setValues] = useState<Record<string, string>>(() =>
    Object.fromEntries(Object.entries(parameters).map(([k, v]) => [k, v ?? ""])),
  );
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  async function run(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const accepted = await need(
        api.POST("/v1/jobs", {
          body: { dataflow, parameters: values },
          headers: { "Idempotency-Key": crypto.randomUUID() },
        }),
      );
      go(["jobs", accepted.id]);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }
  return (
    <form className="run-form" onSubmit={run} aria-label={`run ${dataflow}`}>
      <h3>Run the saved version</h3>
      {Object.keys(values).map((name) => (
        <label key={name}>
          {name}
          <input
            name={`parameter-${name}`}
            value={values[name]}
            onChange={(e) => setValues({ ...values, [name]: e.target.value })}
          />
        </label>
      ))}
      <button type="submit" disabled={busy}>
        Run
      </button>
      <Failure error={error} />
    </form>
  );
}
