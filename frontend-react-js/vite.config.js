import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// Hosts the dev server answers besides localhost: Gitpod, Codespaces and the
// docker compose service name.
const allowedHosts = ['.gitpod.io', '.github.dev', '.app.github.dev', 'frontend-react-js'];

export default defineConfig({
  plugins: [react()],
  // Keep the CRA-era names. The dev server and `vite preview` builds read the
  // REACT_APP_* variables (src/lib/config.js): REACT_APP_BACKEND_URL,
  // REACT_APP_AWS_PROJECT_REGION, REACT_APP_AWS_COGNITO_REGION,
  // REACT_APP_AWS_USER_POOLS_ID, REACT_APP_CLIENT_ID, REACT_APP_AWS_COGNITO_ENDPOINT.
  // The production image sets none at build time: its container writes the
  // same names into /config.js at start (docker-entrypoint.sh).
  envPrefix: 'REACT_APP_',
  server: { host: '0.0.0.0', port: 3000, strictPort: true, allowedHosts },
  preview: { host: '0.0.0.0', port: 3000, strictPort: true, allowedHosts },
  build: { sourcemap: false, chunkSizeWarningLimit: 400 },
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.{js,jsx}'],
    setupFiles: ['./src/test/setup.js'],
    restoreMocks: true,
    unstubGlobals: true,
    // The sign-in tests compute SRP in JavaScript (big-number math): with the
    // other suites of `cargo xtask test` beside them on two cores, one took
    // over vitest's default 5 s (2026-12-03).
    testTimeout: 20000,
  },
});
