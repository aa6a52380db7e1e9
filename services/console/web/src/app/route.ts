// Routing by the URL's fragment (`#/jobs/…`): the gateway serves one page at `/`,
// so every view has a link of its own without the server knowing the views.
import { useEffect, useState } from "react";

export type Route = { parts: string[]; query: URLSearchParams };

function current(): Route {
  const hash = window.location.hash.replace(/^#\/?/, "");
  const [path, search = ""] = hash.split("?", 2);
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, query: new URLSearchParams(search) };
}

export function useRoute(): Route {
  const [route, setRoute] = useState(current);
  useEffect(() => {
    const changed = () => setRoute(current());
    window.addEventListener("hashchange", changed);
    return () => window.removeEventListener("hashchange", changed);
  }, []);
  return route;
}

/** `#/a/b?x=1` from parts and query values (empty values left out). */
export function href(parts: string[], query: Record<string, string | undefined> = {}): string {
  const path = parts.map(encodeURIComponent).join("/");
  const search = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v) search.set(k, v);
  const text = search.toString();
  return `#/${path}${text ? `?${text}` : ""}`;
}

export function go(parts: string[], query: Record<string, string | undefined> = {}) {
  window.location.hash = href(parts, query);
}
