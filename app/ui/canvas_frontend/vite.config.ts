// One ES module (dist/canvas.js, default export: the renderer, React bundled in, no chunks)
// and one stylesheet (dist/canvas.css, React Flow's included), served by Streamlit from dist/.
// Not Vite's library mode: for the `es` format it leaves whitespace unminified (+300 kB).
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

export default defineConfig({
  plugins: [react()],
  build: {
    outDir: "dist",
    emptyOutDir: true, // dist/SOURCE_HASH is written after the build (scripts/hash.sh --write)
    target: "es2022",
    cssCodeSplit: false,
    sourcemap: false,
    modulePreload: false,
    copyPublicDir: false,
    rollupOptions: {
      input: "src/index.tsx",
      preserveEntrySignatures: "exports-only", // keep the entry's default export
      output: {
        format: "es",
        inlineDynamicImports: true,
        entryFileNames: "canvas.js",
        assetFileNames: (asset) => (asset.names.some((n) => n.endsWith(".css")) ? "canvas.css" : "[name][extname]"),
      },
    },
  },
});
