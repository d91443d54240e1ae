import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import react from '@vitejs/plugin-react';
import { defineConfig, type Plugin } from 'vitest/config';

const outDir = resolve(import.meta.dirname, 'dist');

// Vite empties dist before each build; web.go embeds dist, and git keeps the
// empty placeholder that lets `go build` work before npm ever ran.
function keepDistPlaceholder(): Plugin {
  return {
    name: 'slipway-keep-dist-placeholder',
    apply: 'build',
    closeBundle() {
      writeFileSync(resolve(outDir, '.gitkeep'), '');
    },
  };
}

// `npm run dev` proxies the API to a running server (SLIPWAY_URL, default
// the `make run` address) so the console is developed against real data.
const api = process.env.SLIPWAY_URL ?? 'https://localhost:8443';
const proxy = Object.fromEntries(
  ['/api', '/auth'].map((path) => [path, { target: api, changeOrigin: true, secure: false }]),
);

export default defineConfig({
  plugins: [react(), keepDistPlaceholder()],
  build: {
    outDir,
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    chunkSizeWarningLimit: 400,
  },
  server: { proxy },
  preview: { proxy },
  test: {
    environment: 'happy-dom',
    include: ['src/**/*.test.{ts,tsx}'],
    setupFiles: ['src/test/setup.ts'],
    restoreMocks: true,
  },
});
