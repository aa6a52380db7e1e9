// A user's way through the console: sign in, make a connection, build a dataflow
// in the designer, meet a validation problem on the right stage, preview a stage
// while no file is written, save, run it with a parameter, watch the job succeed
// live and read its log. Every request the page makes is an operation of
// /openapi.json on this server.
import { expect, test } from "@playwright/test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { ADMIN_PASSWORD, call, FILES, login, recordRequests, screenshot, signIn } from "./harness";

const ROOT = `${FILES}/designed`;
const CONNECTION = "people_files";
const NAME = "people_adults";

test.describe.configure({ mode: "serial" });

test.beforeAll(() => {
  mkdirSync(ROOT, { recursive: true });
  writeFileSync(`${ROOT}/people.csv`, "name,age\nann,34\nbob,12\ncid,18\ndee,17\n");
});

test("design, preview, save, run and watch a dataflow", async ({ page }) => {
  const requests = recordRequests(page);
  await signIn(page, "admin", ADMIN_PASSWORD);
  await screenshot(page, "designer", "signed-in");

  // A connection, made and tested through its form.
  await page.getByRole("link", { name: "Connections" }).click();
  await page.getByLabel("Name").fill(CONNECTION);
  await page.getByLabel("Kind").selectOption("local");
  await page.getByLabel("Root directory").fill(ROOT);
  await page.getByRole("button", { name: "Save connection" }).click();
  await expect(page.getByRole("status").filter({ hasText: `Connection ${CONNECTION} created.` })).toBeVisible();
  await page.getByRole("button", { name: `Test ${CONNECTION}` }).click();
  await expect(page.getByText(/reachable \(\d+ ms\)/)).toBeVisible();
  await screenshot(page, "designer", "connections");

  // A dataflow built in the designer's graph and forms.
  await page.getByRole("link", { name: "Dataflows" }).click();
  await page.getByRole("link", { name: "New dataflow" }).click();
  await page.getByLabel("Name", { exact: true }).fill(NAME);
  const addStage = async (type: string) => {
    await page.getByLabel("New stage").selectOption(type);
    await page.getByRole("button", { name: "Add stage" }).click();
  };
  await addStage("read");
  await page.getByLabel("connection", { exact: true }).fill(CONNECTION);
  await page.getByLabel("path", { exact: true }).fill("people.csv");
  await addStage("sql");
  await page.getByLabel("query", { exact: true }).fill("SELECT name, age FROM read WHERE age >= ${min_age}");

  // The server's check names the stage and field at fault, and the page shows it there.
  const sqlNode = page.locator('[data-stage="sql"]');
  await expect(sqlNode).toHaveClass(/invalid/);
  await expect(page.locator('[data-stage="read"]')).not.toHaveClass(/invalid/);
  await expect(page.locator("#stage-field-query-problem")).toContainText("parameters");
  await screenshot(page, "designer", "validation-problem");

  // Fixed in the text: the graph follows.
  const text = page.getByLabel("Document (JSON)");
  const document = JSON.parse(await text.inputValue());
  document.parameters = { min_age: "18" };
  await text.fill(JSON.stringify(document, null, 2));
  await expect(sqlNode).not.toHaveClass(/invalid/);

  await addStage("write");
  await page.getByLabel("connection", { exact: true }).fill(CONNECTION);
  await page.getByLabel("path", { exact: true }).fill("out/adults.csv");
  await expect(page.locator('[data-stage="write"]')).toBeVisible();
  expect(JSON.parse(await text.inputValue()).stages.map((s: { id: string }) => s.id)).toEqual(["read", "sql", "write"]);

  // A preview of the query, then of the write: rows, and no file anywhere.
  await sqlNode.click();
  await page.getByRole("button", { name: "Preview sql" }).click();
  const preview = page.getByRole("region", { name: "preview of sql" });
  await expect(preview.getByRole("cell", { name: "ann" })).toBeVisible();
  await expect(preview.getByRole("cell", { name: "cid" })).toBeVisible();
  await expect(preview.getByRole("cell", { name: "bob" })).toHaveCount(0);
  await expect(preview.getByRole("status")).toContainText("2 rows");
  await page.locator('[data-stage="write"]').click();
  await page.getByRole("button", { name: "Preview write" }).click();
  await expect(page.getByRole("region", { name: "preview of write" }).getByRole("cell", { name: "ann" })).toBeVisible();
  await screenshot(page, "designer", "preview");
  expect(existsSync(`${ROOT}/out`), "a preview wrote nothing").toBe(false);

  // Saved once; saving the same document again makes no version.
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page).toHaveURL(new RegExp(`#/dataflows/${NAME}$`));
  await expect(page.getByText("Latest version 1")).toBeVisible();
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.getByRole("status").filter({ hasText: "No change" })).toBeVisible();
  const admin = await login("admin", ADMIN_PASSWORD);
  expect((await call(admin, "GET", `/v1/dataflows/${NAME}`)).body.version).toBe(1);
  await screenshot(page, "designer", "saved");

  // Run with a parameter; the job page follows it to the end.
  await page.getByLabel("min_age").fill("30");
  await page.getByRole("button", { name: "Run", exact: true }).click();
  await expect(page).toHaveURL(/#\/jobs\/[0-9a-f-]+$/);
  await screenshot(page, "designer", "job-started");
  await expect(page.getByTestId("job-status")).toHaveText("succeeded", { timeout: 30_000 });
  await expect(page.getByTestId("rows-written")).toHaveText("1");
  await expect(page.getByRole("table").filter({ hasText: "Stages" }).getByRole("cell", { name: "sql" })).toBeVisible();
  await page.getByRole("button", { name: "Open the log" }).click();
  const log = page.getByLabel("job log");
  await expect(log).toContainText("stage finished");
  await expect(page.getByRole("heading", { name: /Log/ })).toContainText("complete");
  await screenshot(page, "designer", "job-log");
  expect(readFileSync(`${ROOT}/out/adults.csv`, "utf8").trim()).toBe("name,age\nann,34");

  // The jobs list shows it, filtered by dataflow.
  await page.getByRole("link", { name: "Jobs" }).first().click();
  await page.getByLabel("Dataflow").fill(NAME);
  await page.getByRole("button", { name: "Filter" }).click();
  await expect(page).toHaveURL(new RegExp(`dataflow=${NAME}`));
  const rows = page.getByRole("table", { name: "jobs" }).locator("tbody tr");
  await expect(rows).toHaveCount(1);
  await expect(rows.getByRole("cell", { name: NAME })).toBeVisible();
  await expect(rows.getByRole("cell", { name: "succeeded" })).toBeVisible();
  await screenshot(page, "designer", "jobs");

  const count = await requests.check();
  console.log(`${count} requests, each an operation of /openapi.json on ${new URL(page.url()).host}`);
});
