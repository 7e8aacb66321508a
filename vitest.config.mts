import { defineConfig } from 'vitest/config';

// Unit tests of the panel's plain-TypeScript state logic (no browser, no JupyterLab).
export default defineConfig({
  test: {
    include: ['labextension/test/**/*.test.ts'],
    environment: 'node'
  }
});
