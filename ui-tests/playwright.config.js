/**
 * Galata (Playwright) configuration: Debian's Chromium (never a downloaded browser), no
 * video (it needs a downloaded ffmpeg), one worker (the SLURM sandbox and the browser
 * share two cores), the server on 127.0.0.1 stopped with SIGTERM so kernels shut down.
 */
const baseConfig = require('@jupyterlab/galata/lib/playwright-config');

const port = process.env.CLUSTERLAB_UI_PORT || '18888';

module.exports = {
  ...baseConfig,
  testDir: './tests',
  timeout: 180000,
  expect: { timeout: 30000 },
  workers: 1,
  fullyParallel: false,
  retries: 0,
  outputDir: process.env.CLUSTERLAB_UI_RESULTS || 'test-results',
  reporter: [['list'], ['html', { open: 'never', outputFolder: 'playwright-report' }]],
  use: {
    ...baseConfig.use,
    baseURL: `http://127.0.0.1:${port}`,
    browserName: 'chromium',
    launchOptions: { executablePath: '/usr/bin/chromium' },
    video: 'off',
    trace: 'off',
    screenshot: 'only-on-failure',
    autoGoto: true
  },
  webServer: {
    // exec: the SIGTERM reaches the server itself; its log goes to a file.
    command: `exec jupyter lab --config jupyter_server_test_config.py > "${
      process.env.CLUSTERLAB_UI_SERVER_LOG || 'jupyter-server.log'
    }" 2>&1`,
    url: `http://127.0.0.1:${port}/lab`,
    timeout: 120000,
    reuseExistingServer: false,
    gracefulShutdown: { signal: 'SIGTERM', timeout: 15000 }
  }
};
