import { defineConfig } from "@playwright/test";

// Debian's Chromium, not a browser Playwright downloads: the machines reach no
// download host, and the console must work in the browser users have.
export default defineConfig({
  testDir: "specs",
  outputDir: "artifacts/results",
  timeout: 90_000,
  expect: { timeout: 15_000 },
  workers: 1,
  retries: 0,
  reporter: [["list"]],
  use: {
    baseURL: process.env.PRISM_CONSOLE_URL,
    browserName: "chromium",
    launchOptions: { executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium" },
    headless: true,
    viewport: { width: 1400, height: 900 },
    trace: "off",
  },
});
