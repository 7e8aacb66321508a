/**
 * Issue 25, defect 9 (the panel's "known and not yet fixed"): job-end notifications from
 * page load without opening the panel or starting a kernel; "Clear finished" kept in the
 * ledger, so another browser agrees; a large result is measured, not loaded, until
 * "Load". Local profile only: no SSH sandbox needed.
 */
import AxeBuilder from '@axe-core/playwright';
import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';

import { openNotebook, openPanel, printedIds, row, waitReady } from './job-helpers';

const BACKGROUND_PATH = '.clusterlab-panel';

async function panelSessions(page: IJupyterLabPageFixture): Promise<unknown[]> {
  const response = await page.request.get('/api/sessions');
  const sessions = (await response.json()) as { id: string; path: string }[];
  return sessions.filter(s => s.path === BACKGROUND_PATH);
}

test('a job that ends is announced from page load, without opening the panel or starting a kernel', async ({
  page,
  tmpPath
}) => {
  // Failed before: the kernel link started only when the panel was first shown, so a job
  // that ended before anyone opened the panel was never announced.
  for (const session of (await panelSessions(page)) as { id: string }[]) {
    await page.request.delete(`/api/sessions/${session.id}`);
  }
  await page.reload();
  const sidebar = page.locator('#clusterlab-sidebar');
  await page.locator('.jp-SideBar [data-id="clusterlab-sidebar"]').waitFor();
  await expect(sidebar).toBeHidden();
  await openNotebook(page, tmpPath, 'notice.ipynb', [
    "import clusterlab as cl, time\njob = cl.cluster('local')(time.sleep).submit(6)\nprint('ids:', job.id)"
  ]);
  await page.notebook.runCell(0);
  const [id] = await printedIds(page, 0);
  const notice = page.locator('.Toastify__toast').filter({ hasText: id });
  await expect(notice).toContainText(`sleep ${id} ended COMPLETED`, { timeout: 60000 });
  await expect(sidebar).toBeHidden(); // never shown
  expect(await panelSessions(page)).toEqual([]); // and no kernel started for it
  await notice.getByRole('button', { name: 'Show jobs' }).click();
  await expect(row(sidebar, id)).toHaveAttribute('data-state', 'COMPLETED');
});

test('Clear finished is kept in the ledger: another browser lists the same jobs', async ({
  page,
  browser,
  tmpPath
}) => {
  // Failed before: the cleared ids lived in this browser's localStorage only.
  await openNotebook(page, tmpPath, 'clear.ipynb', [
    "import clusterlab as cl\njob = cl.cluster('local')(abs).submit(-7)\nprint('ids:', job.id, job.result())"
  ]);
  const panel = await openPanel(page);
  await waitReady(panel, /clear\.ipynb/);
  await page.notebook.runCell(0);
  const [id] = await printedIds(page, 0);
  await expect(row(panel, id)).toHaveAttribute('data-state', 'COMPLETED');
  await panel.getByRole('button', { name: /^Clear finished/ }).click();
  await expect(row(panel, id)).toHaveCount(0);
  await expect(panel.getByRole('button', { name: /^Show \d+ cleared/ })).toBeVisible();

  // Another browser (its own storage), on the same server.
  const context = await browser.newContext();
  const other = await context.newPage();
  try {
    await other.goto(page.url());
    // Its layout is restored from the same workspace: the panel may be open already.
    await other.locator('.jp-NotebookPanel, .jp-Launcher').first().waitFor();
    const otherPanel = other.locator('#clusterlab-sidebar');
    if (!(await otherPanel.isVisible())) {
      await other.locator('.jp-SideBar [data-id="clusterlab-sidebar"]').click();
    }
    await expect(otherPanel).toBeVisible();
    await waitReady(otherPanel);
    await expect(otherPanel.getByRole('button', { name: /^Show \d+ cleared/ })).toBeVisible();
    await expect(row(otherPanel, id)).toHaveCount(0);
    // Showing them there shows them here too (at the next refresh).
    await otherPanel.getByRole('button', { name: /^Show \d+ cleared/ }).click();
    await expect(row(otherPanel, id)).toHaveCount(1);
  } finally {
    await context.close();
  }
  await page.evaluate(() => window.jupyterapp.commands.execute('clusterlab:refresh'));
  await expect(row(panel, id)).toHaveCount(1);
});

test('a large result shows its size and loads only on Load', async ({ page, tmpPath }) => {
  // Failed before: "Show result" loaded the whole value into the panel's kernel and
  // showed 64 KiB of its repr.
  await openNotebook(page, tmpPath, 'big.ipynb', [
    // Submitted by another process (as from another kernel): this kernel holds nothing.
    'import subprocess, sys\n' +
      'code = "import clusterlab as cl; j = cl.cluster(\'local\')(bytes).submit(3_000_000); j.result(); print(j.id)"\n' +
      "print('ids:', subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True).stdout.strip())"
  ]);
  const panel = await openPanel(page);
  await waitReady(panel, /big\.ipynb/);
  await page.notebook.runCell(0);
  const [id] = await printedIds(page, 0);
  await page.evaluate(() => window.jupyterapp.commands.execute('clusterlab:refresh'));
  const job = row(panel, id);
  await expect(job).toHaveAttribute('data-state', 'COMPLETED');
  await job.getByRole('button', { name: new RegExp(`^Show result: .* ${id}$`) }).click();
  const unloaded = job.locator('.jp-clusterlab-resultUnloaded');
  await expect(unloaded).toContainText('The value is 2.9 MB: it was not loaded');
  await expect(job.getByLabel(`result of job ${id}`, { exact: true })).toHaveCount(0);
  // The new view (sentence, size, Load) passes axe-core as the rest of the panel does.
  const axe = await new AxeBuilder({ page }).include('#clusterlab-sidebar').analyze();
  expect(axe.violations.map(v => `${v.id}: ${v.help}`)).toEqual([]);
  await unloaded.getByRole('button', { name: /^Load: result of job/ }).click();
  const text = job.getByLabel(`result of job ${id}`, { exact: true });
  await expect(text).toContainText("b'\\x00\\x00");
  expect(((await text.textContent()) ?? '').length).toBeLessThanOrEqual(2000);
  await expect(job.locator('.jp-clusterlab-result')).toContainText('showing the start');
  await expect(job.locator('.jp-clusterlab-resultSize')).toHaveText('2.9 MB');
});
