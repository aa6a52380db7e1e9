// What every console test shares: the standalone run.sh started, its API called
// directly (bearer token) to set up and to check what the page did, signing in
// through the page, screenshots, and a record of every request the page makes,
// each checked against the operations of /openapi.json.
import { expect, type Page, type Request } from "@playwright/test";
import { execFileSync } from "node:child_process";

export const BASE = process.env.PRISM_CONSOLE_URL!;
export const ADMIN_PASSWORD = process.env.PRISM_CONSOLE_ADMIN_PASSWORD!;
export const FILES = process.env.PRISM_CONSOLE_FILES!;
export const EXAMPLES = process.env.PRISM_CONSOLE_EXAMPLES!;

export async function call(token: string, method: string, path: string, body?: unknown) {
  const response = await fetch(`${BASE}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

export async function login(user: string, password: string): Promise<string> {
  const response = await fetch(`${BASE}/v1/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ user, password }),
  });
  expect(response.status, `login of ${user}`).toBe(200);
  return (await response.json()).token;
}

/** A user with `roles`, made by the admin (password: `<name>-password-1`). */
export async function user(admin: string, name: string, roles: string[]) {
  const answer = await call(admin, "PUT", `/v1/users/${name}`, { password: `${name}-password-1`, roles });
  expect([200, 201]).toContain(answer.status);
  return `${name}-password-1`;
}

/** `prism` itself, with a home of its own (its token file). */
export function prism(args: string[], input?: string): string {
  return execFileSync(process.env.PRISM_CONSOLE_BIN!, args, {
    input,
    env: { ...process.env, HOME: process.env.PRISM_CONSOLE_HOME, PRISM_URL: BASE },
    encoding: "utf8",
  });
}

export async function signIn(page: Page, name: string, password: string) {
  await page.goto("/");
  await page.getByLabel("User").fill(name);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("navigation", { name: "Sections" })).toBeVisible();
}

let shot = 0;
/** A screenshot of the page as it is, kept as a CI artifact. */
export async function screenshot(page: Page, test: string, view: string) {
  shot += 1;
  const name = `${String(shot).padStart(2, "0")}-${test}-${view}.png`.replace(/[^A-Za-z0-9_.-]/g, "_");
  await page.screenshot({ path: `artifacts/${name}`, fullPage: true });
}

type Operation = { method: string; pattern: RegExp; path: string };

async function operations(): Promise<Operation[]> {
  const document = await (await fetch(`${BASE}/openapi.json`)).json();
  const found: Operation[] = [];
  for (const [path, item] of Object.entries(document.paths as Record<string, Record<string, unknown>>)) {
    const pattern = new RegExp(`^${path.replace(/[.]/g, "\\.").replace(/\{[^}]+\}/g, "[^/]+")}$`);
    for (const method of Object.keys(item)) found.push({ method: method.toUpperCase(), pattern, path });
  }
  return found;
}

/**
 * Records every request the page makes. `check` then asserts that each went to
 * this server and is an operation of its /openapi.json.
 */
export function recordRequests(page: Page) {
  const seen: Request[] = [];
  page.on("request", (request) => seen.push(request));
  return {
    seen,
    async check() {
      const known = await operations();
      expect(seen.length).toBeGreaterThan(0);
      const strangers: string[] = [];
      for (const request of seen) {
        const url = new URL(request.url());
        if (url.protocol === "data:") {
          strangers.push(`a data: URL`);
          continue;
        }
        if (url.origin !== new URL(BASE).origin) {
          strangers.push(`${request.method()} ${request.url()} (another host)`);
          continue;
        }
        const operation = known.find((o) => o.method === request.method() && o.pattern.test(url.pathname));
        if (!operation) strangers.push(`${request.method()} ${url.pathname} (no such operation)`);
      }
      expect(strangers, "requests that are not operations of /openapi.json").toEqual([]);
      return seen.length;
    },
  };
}

/** The connection `files` and the dataflow `adults` (as `./dev.sh up` makes them). */
export async function example(admin: string) {
  const { mkdirSync, writeFileSync } = await import("node:fs");
  const root = `${FILES}/example`;
  mkdirSync(root, { recursive: true });
  writeFileSync(`${root}/people.csv`, "name,age\nann,34\nbob,12\ncid,18\ndee,17\n");
  expect([200, 201]).toContain((await call(admin, "PUT", "/v1/connections/files", { kind: "local", root })).status);
  const saved = await call(admin, "PUT", "/v1/dataflows/adults", {
    kind: "job",
    parameters: { min_age: "18" },
    stages: [
      { id: "people", type: "read", connection: "files", path: "people.csv", format: "csv" },
      { id: "adults", type: "sql", inputs: ["people"], query: "SELECT name, age FROM people WHERE age >= ${min_age}" },
      { id: "out", type: "write", input: "adults", connection: "files", path: "out/adults-${min_age}.csv", format: "csv" },
    ],
  });
  expect([200, 201]).toContain(saved.status);
  return root;
}

export const CONSOLE_HEADER = { "x-prism-console": "1" };
