// The browser session: a cookie that scripts cannot read, that pages of other
// origins cannot use to change anything, and that signing out revokes.
import { expect, test } from "@playwright/test";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { ADMIN_PASSWORD, BASE, call, example, login, screenshot, signIn } from "./harness";

/** A page of another origin on the same host (another port: the same *site*). */
function attackerPage(): string {
  return `<!doctype html><html><head><title>waiting</title></head><body><p>Win a prize!</p>
<script>
(async () => {
  const base = ${JSON.stringify(BASE)};
  const json = JSON.stringify({ dataflow: "adults" });
  const results = {};
  // No content type (read as JSON by the API) and no preflight: the cookie goes along.
  try {
    await fetch(base + "/v1/jobs", { method: "POST", mode: "no-cors", credentials: "include", body: new Blob([json]) });
    results.simple = "sent";
  } catch (e) { results.simple = "blocked"; }
  // The console's header needs a CORS preflight, which the API never grants.
  try {
    const r = await fetch(base + "/v1/jobs", { method: "POST", credentials: "include",
      headers: { "x-prism-console": "1", "content-type": "application/json" }, body: json });
    results.withHeader = r.status;
  } catch (e) { results.withHeader = "blocked"; }
  // Reading the session's data across origins.
  try {
    const r = await fetch(base + "/v1/me", { credentials: "include" });
    results.read = await r.text();
  } catch (e) { results.read = "blocked"; }
  window.results = results;
  document.title = "done";
})();
</script></body></html>`;
}

let server: Server;
let attacker: string;

test.beforeAll(async () => {
  server = createServer((_, response) => {
    response.writeHead(200, { "content-type": "text/html" });
    response.end(attackerPage());
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  attacker = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});

test.afterAll(() => new Promise<void>((done) => server.close(() => done())));

test("a page of another origin cannot change anything with the user's session", async ({ page }) => {
  const admin = await login("admin", ADMIN_PASSWORD);
  await example(admin);
  await signIn(page, "admin", ADMIN_PASSWORD);
  const before = (await call(admin, "GET", "/v1/jobs?dataflow=adults&limit=100")).body.jobs.length;
  const answered: number[] = [];
  page.on("response", (response) => {
    if (new URL(response.url()).pathname === "/v1/jobs") answered.push(response.status());
  });
  await page.goto(attacker);
  await expect(page).toHaveTitle("done");
  const results = await page.evaluate(() => (window as unknown as { results: Record<string, unknown> }).results);
  expect(results.withHeader).toBe("blocked");
  expect(results.read).toBe("blocked");
  // The simple request reached the API with the cookie, and was refused there.
  expect(answered).toEqual([403]);
  await page.waitForTimeout(1000);
  const after = (await call(admin, "GET", "/v1/jobs?dataflow=adults&limit=100")).body.jobs.length;
  expect(after, "no job was submitted").toBe(before);
});

test("the session cookie is HttpOnly and SameSite=Strict, and signing out revokes it", async ({ page, context }) => {
  await signIn(page, "admin", ADMIN_PASSWORD);
  const cookie = (await context.cookies()).find((c) => c.name === "prism_session");
  expect(cookie).toBeDefined();
  expect(cookie!.httpOnly).toBe(true);
  expect(cookie!.sameSite).toBe("Strict");
  expect(await page.evaluate(() => document.cookie)).not.toContain("prism_session");
  const token = cookie!.value;
  expect((await call(token, "GET", "/v1/me")).status).toBe(200);
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page.getByRole("heading", { name: "Sign in to Prism" })).toBeVisible();
  await screenshot(page, "session", "signed-out");
  expect((await call(token, "GET", "/v1/me")).status, "the token is revoked").toBe(401);
  expect((await context.cookies()).find((c) => c.name === "prism_session")).toBeUndefined();
});
