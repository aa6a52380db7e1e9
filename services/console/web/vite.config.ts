import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// Every file lands under /assets/ with a content hash (served as immutable by the
// gateway); nothing is inlined into the page, so its policy can stay
// `default-src 'self'` without 'unsafe-inline'.
export default defineConfig({
  plugins: [react()],
  build: {
    outDir: "dist",
    assetsDir: "assets",
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
  },
  server: {
    proxy: {
      "/v1": "http://127.0.0.1:8080",
      "/openapi.json": "http://127.0.0.1:8080",
    },
  },
});
