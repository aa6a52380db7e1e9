// What a user may not do, the console does not offer, and what the server
// refuses, the console says. A viewer sees no edit control; a save sent from the
// viewer's page anyway is refused 403; a designer whose role is taken away while
// the designer is open is told why the save failed.
import { expect, test } from "@playwright/test";
import { ADMIN_PASSWORD, call, CONSOLE_HEADER, example, login, screenshot, signIn, user } from "./harness";

test("a viewer sees no edit control, and a save from the page is refused", async ({ page }) => {
  const admin = await login("admin", ADMIN_PASSWORD);
  await example(admin);
  const password = await user(admin, "vera", ["viewer"]);
  await signIn(page, "vera", password);
  await page.goto("/#/dataflows/adults");
  const text = page.getByLabel("Document (JSON)");
  await expect(text).toHaveJSProperty("readOnly", true);
  await expect(page.getByRole("button", { name: "Save" })).toHaveCount(0);
  await expect(page.getByRole("button", { name: "Add stage" })).toHaveCount(0);
  await expect(page.getByRole("button", { name: "Run", exact: true })).toHaveCount(0);
  await page.locator('[data-stage="adults"]').click();
  await expect(page.getByRole("form", { name: "stage adults" }).getByRole("textbox")).toHaveCount(0);
  await expect(page.getByRole("button", { name: /^Preview/ })).toHaveCount(0);
  await expect(page.getByRole("button", { name: /^Delete stage/ })).toHaveCount(0);
  await screenshot(page, "access", "viewer-designer");
  await page.getByRole("link", { name: "Connections" }).click();
  await expect(page.getByRole("button", { name: "Save connection" })).toHaveCount(0);
  await expect(page.getByRole("button", { name: /^Test/ })).toHaveCount(0);
  // Sections the viewer may not see are not offered at all.
  await expect(page.getByRole("link", { name: "Users and roles" })).toHaveCount(0);
  await expect(page.getByRole("link", { name: "Jobs" })).toHaveCount(1);
  await screenshot(page, "access", "viewer-connections");

  // The page's own session, the console's own header: the server still refuses.
  const status = await page.evaluate(async (header) => {
    const response = await fetch("/v1/dataflows/adults", {
      method: "PUT",
      headers: { "content-type": "application/json", ...header },
      body: JSON.stringify({ kind: "job", stages: [] }),
    });
    return response.status;
  }, CONSOLE_HEADER);
  expect(status).toBe(403);
  expect((await call(admin, "GET", "/v1/dataflows/adults")).body.document.stages).toHaveLength(3);
});

test("a save the server refuses is shown with the server's reason", async ({ page }) => {
  const admin = await login("admin", ADMIN_PASSWORD);
  await example(admin);
  const password = await user(admin, "dora", ["designer"]);
  await signIn(page, "dora", password);
  await page.goto("/#/dataflows/adults");
  const text = page.getByLabel("Document (JSON)");
  const document = JSON.parse(await text.inputValue());
  document.stages[1].query = "SELECT name FROM people";
  await text.fill(JSON.stringify(document, null, 2));
  // Her role is taken away while the designer is open.
  expect((await call(admin, "PUT", "/v1/users/dora", { roles: ["viewer"] })).status).toBe(200);
  await page.getByRole("button", { name: "Save" }).click();
  const alert = page.getByRole("alert").filter({ hasText: "403" });
  await expect(alert).toContainText("missing permission: modify on dataflows/adults");
  await screenshot(page, "access", "refused-save");
  expect((await call(admin, "GET", "/v1/dataflows/adults")).body.document.stages[1].query).toContain("min_age");
});
