// The few pieces every view shares: loading an answer, showing a failure, times.
import { useCallback, useEffect, useState, type ReactNode } from "react";
import { ApiFailure } from "../api/client";

export type Loaded<T> = {
  data?: T;
  error?: unknown;
  loading: boolean;
  reload: () => void;
};

/** Runs `load` when `deps` change (and on `reload`), keeping its answer or failure. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({
    loading: true,
  });
  const [tick, setTick] = useState(0);
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const run = useCallback(load, deps);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    run().then(
      (data) => live && setState({ data, loading: false }),
      (error) => live && setState({ error, loading: false }),
    );
    return () => {
      live = false;
    };
  }, [run, tick]);
  return { ...state, reload: () => setTick((t) => t + 1) };
}

export function describe(error: unknown): string {
  if (error instanceof ApiFailure) {
    const field = error.field ? ` (${error.field})` : "";
    return `${error.status}: ${error.message}${field}`;
  }
  return error instanceof Error ? error.message : String(error);
}

/** A failure as the API worded it, announced to screen readers. */
export function Failure({ error }: { error: unknown }) {
  if (!error) return null;
  return (
    <p className="failure" role="alert">
      {describe(error)}
    </p>
  );
}

export function Notice({ children }: { children: ReactNode }) {
  return (
    <p className="notice" role="status">
      {children}
    </p>
  );
}

export function Time({ at }: { at?: string | null }) {
  if (!at) return <span className="muted">—</span>;
  const date = new Date(at);
  return <time dateTime={at}>{date.toLocaleString()}</time>;
}

export function Status({ status }: { status: string }) {
  return <span className={`status status-${status}`}>{status}</span>;
}

export function Page({ title, actions, children }: { title: string; actions?: ReactNode; children: ReactNode }) {
  return (
    <section className="page" aria-labelledby="page-title">
      <header className="page-header">
        <h1 id="page-title">{title}</h1>
        <div className="page-actions">{actions}</div>
      </header>
      {children}
    </section>
  );
}

export function Loading({ loaded }: { loaded: Loaded<unknown> }) {
  if (loaded.error) return <Failure error={loaded.error} />;
  if (loaded.loading && loaded.data === undefined) return <p className="muted">Loading…</p>;
  return null;
}
