// The console's one way to reach the server: a client typed by the API's own
// contract (`schema.d.ts`, generated from /openapi.json by `npm run api`), so a
// call to anything that is not an operation of the contract does not compile.
// The session is the HttpOnly cookie the browser holds; every request carries
// the header that tells the gateway it comes from the console (changes made with
// the cookie are refused without it, see docs/console.md).
import createClient from "openapi-fetch";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];

export const CONSOLE_HEADER = { "x-prism-console": "1" };

export const api = createClient<paths>({
  baseUrl: window.location.origin,
  credentials: "same-origin",
  headers: CONSOLE_HEADER,
});

/** A failed call, as the API describes it. */
export class ApiFailure extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
    public field?: string | null,
    public details?: unknown,
  ) {
    super(message);
  }
}

type Answer<T> = { data?: T; error?: unknown; response: Response };

/** The answer's body, or an {@link ApiFailure} with the API's own message. */
export async function need<T>(call: Promise<Answer<T>>): Promise<T> {
  const { data, error, response } = await call;
  if (response.ok) return data as T;
  const body = (error ?? {}) as { error?: Schemas["ErrorDetail"] };
  const detail = body.error;
  throw new ApiFailure(
    response.status,
    detail?.code ?? "error",
    detail?.message ?? `${response.status} ${response.statusText}`,
    detail?.field,
    detail?.details,
  );
}
