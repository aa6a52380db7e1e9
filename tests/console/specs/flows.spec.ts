// Process flows in the console: a run started from the flow's page, its graph
// showing each activity's state, its approval decided from the inbox, every
// transition explained; a failed run's resume plan asked for and executed.
import { expect, test } from "@playwright/test";
import { ADMIN_PASSWORD, call, example, login, recordRequests, screenshot, signIn } from "./harness";

const job = (id: string, dataflow: string) => ({ id, type: "job", dataflow, parameters: { min_age: "30" } });

test("a run is started, followed on its graph and approved from the inbox", async ({ page }) => {
  const admin = await login("admin", ADMIN_PASSWORD);
  await example(admin);
  const saved = await call(admin, "PUT", "/v1/processflows/gated", {
    activities: [
      job("load", "adults"),
      { id: "gate", type: "approval", role: "admin", timeout_seconds: 3600, on_timeout: "reject" },
      job("publish", "adults"),
      { id: "done", type: "succeed" },
      { id: "refused", type: "fail", input: "first" },
    ],
    transitions: [
      { from: "load", to: "gate", when: "load.rows_written > 0" },
      { from: "load", to: "refused", on: "otherwise" },
      { from: "gate", to: "publish", on: "succeeded" },
      { from: "gate", to: "refused", on: "failed" },
      { from: "publish", to: "done", on: "always" },
    ],
  });
  expect([200, 201]).toContain(saved.status);
  const requests = recordRequests(page);
  await signIn(page, "admin", ADMIN_PASSWORD);
  await page.getByRole("link", { name: "Process flows" }).click();
  await page.getByRole("link", { name: "gated" }).click();
  await expect(page.getByRole("button", { name: /activity gate \(approval\)/ })).toBeVisible();
  await page.getByRole("button", { name: "Start a run" }).click();
  await expect(page).toHaveURL(/#\/flow-runs\//);
  const runId = decodeURIComponent(page.url().split("/").pop()!);
  // The graph follows the run: load done, the gate waiting.
  await expect(page.locator('[data-stage="load"]')).toHaveAttribute("data-state", "succeeded", { timeout: 30_000 });
  await expect(page.locator('[data-stage="gate"]')).toHaveAttribute("data-state", "waiting");
  await screenshot(page, "flows", "run-waiting");

  await page.getByRole("link", { name: "Process flows" }).click();
  // Other specs may leave approvals of their own waiting: this run's row.
  const row = page
    .getByRole("table", { name: "approvals" })
    .getByRole("row")
    .filter({ hasText: `${runId.slice(0, 13)}…` });
  await expect(row).toContainText("reject at");
  page.once("dialog", (dialog) => dialog.accept("figures checked"));
  await row.getByRole("button", { name: "Approve" }).click();
  await expect(row).toHaveCount(0);
  await screenshot(page, "flows", "inbox-decided");

  await page.goto(`/#/flow-runs/${runId}`);
  await expect(page.locator('[data-stage="done"]')).toHaveAttribute("data-state", "succeeded", { timeout: 30_000 });
  await expect(page.locator('[data-stage="refused"]')).toHaveAttribute("data-state", "skipped");
  const decisions = page.getByRole("table", { name: "decisions" });
  const loadGate = decisions.getByRole("row").filter({ hasText: "when load.rows_written > 0" });
  await expect(loadGate).toContainText("load.rows_written = 1");
  await expect(loadGate).toContainText("taken");
  await expect(loadGate).toContainText("the condition holds");
  await expect(page.getByRole("table", { name: "activities" })).toContainText("decided by admin: figures checked");
  await screenshot(page, "flows", "run-succeeded");
  const run = await call(admin, "GET", `/v1/processflow-runs/${runId}`);
  expect(run.body.state).toBe("succeeded");
  expect(run.body.activities[1].comment).toBe("figures checked");
  await requests.check();
});

test("a failed run's resume plan is shown and executed", async ({ page }) => {
  const admin = await login("admin", ADMIN_PASSWORD);
  await example(admin);
  const broken = {
    kind: "job",
    stages: [
      { id: "people", type: "read", connection: "files", path: "missing.csv", format: "csv" },
      { id: "out", type: "write", input: "people", connection: "files", path: "out/fixed.csv", format: "csv" },
    ],
  };
  expect([200, 201]).toContain((await call(admin, "PUT", "/v1/dataflows/fragile", broken)).status);
  const saved = await call(admin, "PUT", "/v1/processflows/twostep", {
    activities: [
      job("first", "adults"),
      { id: "second", type: "job", dataflow: "fragile" },
      { id: "done", type: "succeed" },
    ],
    transitions: [
      { from: "first", to: "second", on: "succeeded" },
      { from: "second", to: "done", on: "succeeded" },
    ],
  });
  expect([200, 201]).toContain(saved.status);
  const started = await call(admin, "POST", "/v1/processflows/twostep/runs", {});
  expect(started.status).toBe(201);
  const requests = recordRequests(page);
  await signIn(page, "admin", ADMIN_PASSWORD);
  await page.goto(`/#/flow-runs/${started.body.id}`);
  await expect(page.locator('[data-stage="second"]')).toHaveAttribute("data-state", "failed", { timeout: 30_000 });
  // The cause is fixed: the file is there now; the dataflow is the same version.
  const { writeFileSync } = await import("node:fs");
  writeFileSync(`${process.env.PRISM_CONSOLE_FILES}/example/missing.csv`, "name,age\nann,34\n");
  await page.getByRole("button", { name: "Plan a resume" }).click();
  const plan = page.getByRole("table", { name: "resume plan" });
  const planned = (activity: string) =>
    plan.getByRole("row").filter({ has: page.getByRole("cell", { name: activity, exact: true }) });
  await expect(planned("first")).toContainText("reuse");
  await expect(planned("second")).toContainText("rerun");
  await expect(planned("second")).toContainText("it failed");
  await screenshot(page, "flows", "resume-plan");
  await page.getByRole("button", { name: "Resume", exact: true }).click();
  await expect(page).not.toHaveURL(new RegExp(started.body.id));
  await expect(page.getByText(/resumes/)).toBeVisible();
  await expect(page.locator('[data-stage="done"]')).toHaveAttribute("data-state", "succeeded", { timeout: 30_000 });
  await expect(page.locator('[data-stage="first"]')).toHaveAttribute("data-state", "succeeded");
  await screenshot(page, "flows", "resumed");
  await requests.check();
});
