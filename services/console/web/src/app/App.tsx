// The console's frame: signing in, the navigation (only what the user may view),
// and the view the URL names.
import { useEffect, useState, type FormEvent } from "react";
import { api, ApiFailure, need, type Schemas } from "../api/client";
import { can, SessionContext } from "./session";
import { href, useRoute, type Route } from "./route";
import { Failure } from "./ui";
import { DataflowList } from "../views/dataflows/List";
import { Designer } from "../views/dataflows/Designer";
import { Diff } from "../views/dataflows/Diff";
import { JobList } from "../views/jobs/List";
import { JobPage } from "../views/jobs/Job";
import { Schedules } from "../views/Schedules";
import { Services } from "../views/Services";
import { Connections } from "../views/Connections";
import { Audit } from "../views/Audit";
import { Cluster } from "../views/Cluster";
import { Access } from "../views/Access";
import { FlowList } from "../views/flows/List";
import { FlowPage } from "../views/flows/Flow";
import { RunPage } from "../views/flows/Run";

const SECTIONS: { path: string; label: string; entity: string }[] = [
  { path: "dataflows", label: "Dataflows", entity: "dataflows" },
  { path: "flows", label: "Process flows", entity: "processflows" },
  { path: "jobs", label: "Jobs", entity: "jobs" },
  { path: "schedules", label: "Schedules", entity: "schedules" },
  { path: "services", label: "Services", entity: "services" },
  { path: "connections", label: "Connections", entity: "connections" },
  { path: "audit", label: "Audit log", entity: "audit" },
  { path: "cluster", label: "Cluster", entity: "cluster" },
  { path: "access", label: "Users and roles", entity: "users" },
];

function View({ route }: { route: Route }) {
  const [section, name, more, other] = route.parts;
  switch (section) {
    case "dataflows":
      if (name && more === "diff") return <Diff name={name} query={route.query} />;
      if (name) return <Designer key={name} name={name} isNew={false} />;
      return <DataflowList />;
    case "new-dataflow":
      return <Designer key="new" name={route.query.get("name") ?? ""} isNew />;
    case "flows":
      return name ? <FlowPage key={name} name={name} /> : <FlowList />;
    case "flow-runs":
      return <RunPage key={name} id={name} />;
    case "jobs":
      return name ? <JobPage key={name} id={name} /> : <JobList query={route.query} />;
    case "schedules":
      return <Schedules />;
    case "services":
      return <Services />;
    case "connections":
      return <Connections />;
    case "audit":
      return <Audit />;
    case "cluster":
      return <Cluster />;
    case "access":
      return <Access />;
    default:
      void other;
      return <DataflowList />;
  }
}

function SignIn({ onSignedIn }: { onSignedIn: () => void }) {
  const [user, setUser] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await need(api.POST("/v1/auth/session", { body: { user, password } }));
      onSignedIn();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }
  return (
    <main className="sign-in">
      <form onSubmit={submit} aria-labelledby="sign-in-title">
        <h1 id="sign-in-title">Sign in to Prism</h1>
        <label>
          User
          <input name="user" autoComplete="username" value={user} onChange={(e) => setUser(e.target.value)} required />
        </label>
        <label>
          Password
          <input
            name="password"
            type="password"
            autoComplete="current-password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            required
          />
        </label>
        <button type="submit" disabled={busy}>
          Sign in
        </button>
        <Failure error={error} />
      </form>
    </main>
  );
}

export function App() {
  const route = useRoute();
  const [me, setMe] = useState<Schemas["Me"] | null | undefined>(undefined);
  const [error, setError] = useState<unknown>();

  async function loadMe() {
    try {
      setMe(await need(api.GET("/v1/me")));
      setError(undefined);
    } catch (e) {
      if (e instanceof ApiFailure && e.status === 401) setMe(null);
      else setError(e);
    }
  }
  useEffect(() => {
    void loadMe();
  }, []);

  async function signOut() {
    await api.POST("/v1/auth/logout");
    setMe(null);
  }

  if (error) return <Failure error={error} />;
  if (me === undefined) return <p className="muted">Loading…</p>;
  if (me === null) return <SignIn onSignedIn={loadMe} />;
  const current = route.parts[0] ?? "dataflows";
  return (
    <SessionContext.Provider value={{ me, signOut }}>
      <div className="frame">
        <nav aria-label="Sections" className="sections">
          <a className="brand" href="#/dataflows">
            Prism
          </a>
          <ul>
            {SECTIONS.filter((s) => can(me, "view", s.entity)).map((s) => (
              <li key={s.path}>
                <a href={href([s.path])} aria-current={current === s.path ? "page" : undefined}>
                  {s.label}
                </a>
              </li>
            ))}
          </ul>
          <div className="who">
            <span>
              {me.user} <span className="muted">({me.roles.join(", ") || "no role"})</span>
            </span>
            <button type="button" className="link" onClick={signOut}>
              Sign out
            </button>
          </div>
        </nav>
        <main className="content">
          <View route={route} />
        </main>
      </div>
    </SessionContext.Provider>
  );
}
