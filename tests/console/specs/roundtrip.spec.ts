// Every dataflow of the examples (and the rest on the server) goes through the
// designer unchanged: loaded, passed through the graph's forms, it is the same
// bytes, and saving it makes no new version.
import { expect, test } from "@playwright/test";
import { ADMIN_PASSWORD, call, example, login, prism, signIn } from "./harness";

test("every dataflow round-trips through the designer byte for byte", async ({ page }) => {
  const admin = await login("admin", ADMIN_PASSWORD);
  await example(admin);
  prism(["login"], `${ADMIN_PASSWORD}\n`);
  prism(["apply", "-f", process.env.PRISM_CONSOLE_EXAMPLES!]);
  const names: string[] = (await call(admin, "GET", "/v1/dataflows")).body.dataflows.map((d: { name: string }) => d.name);
  expect(names).toContain("greeting");
  await signIn(page, "admin", ADMIN_PASSWORD);
  for (const name of names) {
    const stored = (await call(admin, "GET", `/v1/dataflows/${name}`)).body;
    await page.goto(`/#/dataflows/${name}`);
    const text = page.getByLabel("Document (JSON)");
    await expect(text).not.toHaveValue("");
    const loaded = await text.inputValue();
    expect(JSON.parse(loaded), `${name}: the designer shows the stored document`).toEqual(stored.document);
    // Through the graph: each stage opened and its id typed again, which writes the
    // whole document back from the graph's model.
    for (const stage of stored.document.stages as { id: string }[]) {
      await page.locator(`[data-stage="${stage.id}"]`).click();
      await page.getByLabel("id", { exact: true }).fill(stage.id);
    }
    expect(await text.inputValue(), `${name}: the same bytes after the graph`).toBe(loaded);
    await page.getByRole("button", { name: "Save" }).click();
    await expect(page.getByRole("status").filter({ hasText: "No change" })).toBeVisible();
    expect((await call(admin, "GET", `/v1/dataflows/${name}`)).body.version, `${name}: no new version`).toBe(stored.version);
  }
  console.log(`round-tripped: ${names.join(", ")}`);
});
