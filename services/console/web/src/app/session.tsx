// Who is signed in and what their roles grant. The console hides the controls a
// user may not use by these grants; the server decides every request anyway
// (an override on one object can still refuse, and is shown as the API's message).
import { createContext, useContext } from "react";
import type { Schemas } from "../api/client";

export type Action = "view" | "create" | "modify" | "delete" | "execute";

export type Session = {
  me: Schemas["Me"];
  signOut: () => void;
};

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error("useSession outside a signed-in view");
  return session;
}

/** Prism's glob: `*` stands for any run of characters. */
export function globMatches(pattern: string, name: string): boolean {
  const escaped = pattern.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*");
  return new RegExp(`^${escaped}$`).test(name);
}

/** Whether the user's grants allow `action` on `entity` (on `name`, or on some name). */
export function can(me: Schemas["Me"], action: Action, entity: string, name?: string): boolean {
  return me.grants.some(
    (g) =>
      g.entity === entity &&
      g.actions.includes(action) &&
      (name === undefined || globMatches(g.match, name)),
  );
}

export function useCan(): (action: Action, entity: string, name?: string) => boolean {
  const { me } = useSession();
  return (action, entity, name) => can(me, action, entity, name);
}
