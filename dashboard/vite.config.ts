// The dashboard's build: one script and one stylesheet with fixed names (no content
// hashes, no timestamps), so the shipped files in hearth/web/dashboard are exactly what
// `vite build` makes from the lockfile, and the freshness test can compare bytes.
import { defineConfig } from "vite";

export default defineConfig({
  base: "/dashboard/",
  esbuild: { jsx: "automatic", jsxImportSource: "preact", legalComments: "none" },
  build: {
    outDir: "../hearth/web/dashboard",
    emptyOutDir: true,
    assetsDir: "",
    target: "es2022",
    modulePreload: { polyfill: false },
    cssCodeSplit: false,
    reportCompressedSize: false,
    rollupOptions: {
      output: {
        entryFileNames: "app.js",
        chunkFileNames: "[name].js",
        assetFileNames: "[name][extname]",
      },
    },
  },
});
