// The operator's views doing their work: a running job cancelled from its page,
// a schedule switched on, a service called, the audit log filtered and followed,
// a permission explained. Each through the page, each checked through the API.
import { expect, test } from "@playwright/test";
import { ADMIN_PASSWORD, call, example, login, prism, recordRequests, screenshot, signIn } from "./harness";

test("a running job is followed live and cancelled from its page", async ({ page }) => {
  const admin = await login("admin", ADMIN_PASSWORD);
  await example(admin);
  const slow = await call(admin, "PUT", "/v1/dataflows/slow", {
    kind: "job",
    stages: [
      { id: "people", type: "read", connection: "files", path: "people.csv", format: "csv" },
      { id: "wait", type: "delay", milliseconds: 60000 },
      { id: "out", type: "write", input: "people", connection: "files", path: "out/slow.csv", format: "csv" },
    ],
  });
  expect([200, 201]).toContain(slow.status);
  const job = await call(admin, "POST", "/v1/jobs", { dataflow: "slow" });
  expect(job.status).toBe(202);
  const requests = recordRequests(page);
  await signIn(page, "admin", ADMIN_PASSWORD);
  await page.goto(`/#/jobs/${job.body.id}`);
  await expect(page.getByTestId("job-status")).toHaveText("running", { timeout: 30_000 });
  await page.getByRole("button", { name: "Open the log" }).click();
  // The read waits for the write that drains it: only the attempt has begun.
  await expect(page.getByLabel("job log")).toContainText("attempt 1 started");
  await expect(page.getByRole("heading", { name: /Log/ })).toContainText("following");
  await screenshot(page, "operations", "job-running");
  await page.getByRole("button", { name: "Cancel" }).click();
  await expect(page.getByTestId("job-status")).toHaveText("cancelled", { timeout: 30_000 });
  await expect(page.getByRole("heading", { name: /Log/ })).toContainText("complete");
  await expect(page.getByRole("button", { name: "Cancel" })).toHaveCount(0);
  await screenshot(page, "operations", "job-cancelled");
  expect((await call(admin, "GET", `/v1/jobs/${job.body.id}`)).body.status).toBe("cancelled");
  await requests.check();
});

test("schedules, services, the audit log and permissions do their work", async ({ page }) => {
  const admin = await login("admin", ADMIN_PASSWORD);
  await example(admin);
  prism(["login"], `${ADMIN_PASSWORD}\n`);
  prism(["apply", "-f", process.env.PRISM_CONSOLE_EXAMPLES!]);
  await call(admin, "POST", "/v1/schedules/nightly/disable");
  const requests = recordRequests(page);
  await signIn(page, "admin", ADMIN_PASSWORD);

  await page.getByRole("link", { name: "Schedules" }).click();
  const nightly = page.getByRole("row").filter({ hasText: "nightly" });
  await expect(nightly.locator("time")).toHaveCount(3);
  await nightly.getByRole("button", { name: "Enable nightly" }).click();
  await expect(nightly.getByRole("button", { name: "Disable nightly" })).toBeVisible();
  expect((await call(admin, "GET", "/v1/schedules/nightly")).body.enabled).toBe(true);
  await screenshot(page, "operations", "schedules");
  await nightly.getByRole("button", { name: "Disable nightly" }).click();
  await expect(nightly.getByRole("button", { name: "Enable nightly" })).toBeVisible();

  await page.getByRole("link", { name: "Services" }).click();
  await page.getByLabel("Rows (JSON)").fill('[{"name": "ann"}, {"name": "bo"}]');
  await page.getByRole("button", { name: "Call greeting" }).click();
  await expect(page.getByLabel("answer")).toContainText("hello bo");
  await screenshot(page, "operations", "services");

  await page.getByRole("link", { name: "Audit log" }).click();
  await page.getByLabel("Follow new entries").check();
  await call(admin, "PUT", "/v1/connections/followed", { kind: "local", root: `${process.env.PRISM_CONSOLE_FILES}/example` });
  const entries = page.getByRole("table", { name: "audit entries" });
  await expect(entries.getByRole("cell", { name: "connection/followed" })).toBeVisible();
  await page.getByLabel("Filter (actor, action, target)").fill("schedule/nightly");
  const rows = entries.locator("tbody tr");
  await expect(rows.filter({ hasText: "schedule.enable" })).toHaveCount(1);
  await expect(rows.filter({ hasNotText: "schedule/nightly" })).toHaveCount(0);
  await screenshot(page, "operations", "audit");

  await page.getByRole("link", { name: "Users and roles" }).click();
  await call(admin, "PUT", "/v1/users/ivy", { password: "ivy-password-long", roles: ["viewer"] });
  await page.getByLabel("User (empty: you)").fill("ivy");
  await page.getByLabel("Action").selectOption("execute");
  await page.getByLabel("Name").fill("adults");
  await page.getByRole("button", { name: "Check" }).click();
  await expect(page.getByRole("status")).toContainText("ivy: execute on dataflows/adults is refused");
  await screenshot(page, "operations", "access-check");
  await requests.check();
});
