// axe-core, in the same Chromium, over every view: no serious or critical
// violation (WCAG 2.1 A and AA rules).
import AxeBuilder from "@axe-core/playwright";
import { expect, test, type Page } from "@playwright/test";
import { ADMIN_PASSWORD, call, example, login, prism, screenshot, signIn } from "./harness";

async function audit(page: Page, view: string) {
  const result = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]).analyze();
  const grave = result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
  expect(grave, `serious or critical violations on ${view}`).toEqual([]);
  return result.passes.length;
}

test("every view passes axe-core without a serious or critical violation", async ({ page }) => {
  const admin = await login("admin", ADMIN_PASSWORD);
  await example(admin);
  prism(["login"], `${ADMIN_PASSWORD}\n`);
  prism(["apply", "-f", process.env.PRISM_CONSOLE_EXAMPLES!]);
  const job = await call(admin, "POST", "/v1/jobs", { dataflow: "adults" });
  expect(job.status).toBe(202);
  const flow = await call(admin, "PUT", "/v1/processflows/chain", {
    activities: [
      { id: "load", type: "job", dataflow: "adults" },
      { id: "gate", type: "approval", role: "admin", timeout_seconds: 3600, on_timeout: "reject" },
      { id: "done", type: "succeed" },
    ],
    transitions: [
      { from: "load", to: "gate", on: "succeeded" },
      { from: "gate", to: "done", on: "succeeded" },
    ],
  });
  expect([200, 201]).toContain(flow.status);
  const run = await call(admin, "POST", "/v1/processflows/chain/runs", {});
  expect(run.status).toBe(201);

  await page.goto("/");
  await expect(page.getByRole("heading", { name: "Sign in to Prism" })).toBeVisible();
  const checked: string[] = [];
  checked.push(`sign-in: ${await audit(page, "sign-in")} rules passed`);
  await signIn(page, "admin", ADMIN_PASSWORD);
  const views: [string, string, string][] = [
    ["dataflows", "#/dataflows", "Dataflows"],
    ["designer", "#/dataflows/adults", "Dataflow adults"],
    ["new-dataflow", "#/new-dataflow", "New dataflow"],
    ["flows", "#/flows", "Process flows"],
    ["flow", "#/flows/chain", "Process flow chain"],
    ["flow-run", `#/flow-runs/${run.body.id}`, "Run of chain"],
    ["jobs", "#/jobs", "Jobs"],
    ["job", `#/jobs/${job.body.id}`, `Job ${job.body.id}`],
    ["schedules", "#/schedules", "Schedules"],
    ["services", "#/services", "Services"],
    ["connections", "#/connections", "Connections"],
    ["audit", "#/audit", "Audit log"],
    ["cluster", "#/cluster", "Cluster"],
    ["access", "#/access", "Users and roles"],
  ];
  for (const [view, path, heading] of views) {
    await page.goto(`/${path}`);
    await expect(page.getByRole("heading", { level: 1, name: heading })).toBeVisible();
    await page.waitForLoadState("networkidle");
    if (view === "designer") {
      // With a stage open and a problem shown, the designer's busiest state.
      await page.locator('[data-stage="adults"]').click();
      await page.getByLabel("query", { exact: true }).fill("SELECT * FROM nowhere WHERE x = ${nothing}");
      await expect(page.locator('[data-stage="adults"]')).toHaveClass(/invalid/);
    }
    if (view === "flows") {
      // The inbox holds the run's approval.
      await expect(page.getByRole("table", { name: "approvals" })).toContainText("gate");
    }
    checked.push(`${view}: ${await audit(page, view)} rules passed`);
    await screenshot(page, "a11y", view);
  }
  console.log(checked.join("\n"));
});
