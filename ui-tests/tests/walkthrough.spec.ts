/**
 * The timed first-result walkthrough of issue 15, as a newcomer does it in a fresh
 * JupyterLab: open the Clusters panel, create a profile for the test sandbox with the form
 * only (reading tooltips, testing the connection until it is green), open a notebook, run
 * a `%%cluster` cell and a `map`, see both finish in the panel, open an item's log and a
 * failed job's traceback. Its wall time is printed and written to the results dir
 * (walkthrough.timing.json; docs/performance.md records it; target under 2 minutes), and it
 * takes the jobs-view screenshots of docs/lab.md (UPDATE_SCREENSHOTS=1 writes them there).
 */
import { expect, test } from '@jupyterlab/galata';
import * as path from 'path';

import {
  IMAGES,
  openNotebook,
  openPanel,
  printedIds,
  recordTiming,
  row,
  sandbox,
  waitReady,
  widenSidebar
} from './job-helpers';

const PROFILE = 'sandbox';

test('walkthrough: profile from the form, a %%cluster cell and a map, logs and a traceback', async ({
  page,
  tmpPath
}) => {
  // The clock starts when the browser began loading JupyterLab (the page load counts).
  const loaded = await page.evaluate(() => performance.now());
  const start = Date.now() - loaded;
  const marks: Record<string, number> = { 'JupyterLab loaded': loaded / 1000 };
  const mark = (name: string) => (marks[name] = (Date.now() - start) / 1000);
  await page.setViewportSize({ width: 1200, height: 1000 });

  // 1. The panel, on its own background kernel.
  const panel = await openPanel(page);
  await waitReady(panel);
  mark('panel ready');

  // 2. A profile for the sandbox, with the form only; the tooltips say what to type.
  const info = sandbox();
  await panel.getByRole('button', { name: 'New profile' }).click();
  const field = (name: string) => panel.locator(`#clusterlab-field-${name}`);
  await field('scheduler').selectOption('slurm');
  for (const [name, text] of [
    ['name', '%%cluster NAME'],
    ['host', 'login node']
  ]) {
    const help = panel.locator(`[data-field="${name}"] .jp-clusterlab-help`);
    await help.hover();
    await expect(help.locator('.jp-clusterlab-tip')).toContainText(text);
  }
  await page.mouse.move(0, 0);
  await field('name').fill(PROFILE);
  await field('host').fill(info.ssh_host);
  await field('port').fill(String(info.ssh_port));
  await field('user').fill(info.ssh_user);
  await field('key_file').fill(info.ssh_key);
  await field('known_hosts').fill(info.known_hosts);
  await field('python').fill(info.remote_python);
  await field('poll_interval').fill('1');
  await panel.getByRole('button', { name: 'Save' }).click();
  await expect(
    panel.getByRole('status').filter({ hasText: `Saved '${PROFILE}'` })
  ).toBeVisible();
  await panel.getByRole('button', { name: 'Test connection' }).click();
  const check = panel.locator('.jp-clusterlab-checkResult');
  await expect(check).toHaveClass(/jp-mod-ok/, { timeout: 90000 });
  await expect(panel.locator('.jp-clusterlab-checkLine.jp-mod-fail')).toHaveCount(0);
  mark('profile saved and tested');

  // 3. A notebook: a %%cluster cell, then a map and a job that fails.
  await openNotebook(page, tmpPath, 'first.ipynb', [
    `%%cluster ${PROFILE}\nimport socket\nwhere = socket.gethostname()`,
    [
      'import clusterlab as cl',
      'def square(x):',
      '    print(f"squaring {x}")',
      '    return x * x',
      'def unlucky():',
      '    raise ValueError("13 is unlucky")',
      `arr = cl.cluster("${PROFILE}")(square).map(range(10))`,
      `bad = cl.cluster("${PROFILE}")(unlucky).submit()`,
      'print(arr.results(timeout=120), "on", where)',
      'bad.exception(timeout=120)',
      'print("ids:", arr.id, bad.id)'
    ].join('\n')
  ]);
  await waitReady(panel, /first\.ipynb/);
  await page.notebook.runCell(0);
  await page.notebook.runCell(1);
  const [arrId, badId] = await printedIds(page, 1);
  mark('cells finished');

  // 4. Both finished in the panel.
  const cellRow = panel
    .locator('.jp-clusterlab-job')
    .filter({ has: page.locator('.jp-clusterlab-jobName', { hasText: /^cell$/ }) })
    .first();
  await expect(cellRow).toHaveAttribute('data-state', 'COMPLETED');
  const arr = row(panel, arrId);
  await expect(arr.locator('.jp-clusterlab-progressText')).toHaveText(
    '10/10 done (10 completed)'
  );

  // 5. One item's log, and the failed job's traceback.
  await arr.getByRole('button', { name: new RegExp(`^Show log: .* ${arrId}$`) }).click();
  await arr.getByLabel(/^Item/).selectOption('4');
  await expect(arr.getByLabel(`stdout of job ${arrId}:4`, { exact: true })).toHaveText(
    'squaring 4'
  );
  const bad = row(panel, badId);
  await expect(bad).toHaveAttribute('data-state', 'FAILED');
  await bad.getByRole('button', { name: new RegExp(`^Show traceback: .* ${badId}$`) }).click();
  const tb = bad.getByLabel(`result of job ${badId}`, { exact: true });
  await expect(tb).toContainText('ValueError: 13 is unlucky');
  mark('log and traceback read');
  const seconds = (Date.now() - start) / 1000;

  // Screenshots for docs/lab.md (not timed): the jobs view with a log and a traceback.
  await widenSidebar(page);
  await page.evaluate(() =>
    document.querySelector('#clusterlab-jobs')?.scrollIntoView({ block: 'start' })
  );
  await bad.scrollIntoViewIfNeeded();
  await bad.screenshot({ path: path.join(IMAGES, 'jobs-traceback.png') });
  await arr.scrollIntoViewIfNeeded();
  await arr.screenshot({ path: path.join(IMAGES, 'jobs-array-log.png') });
  const jobs = panel.locator('#clusterlab-jobs');
  await jobs.evaluate(el => el.scrollTo(0, 0));
  await jobs.screenshot({ path: path.join(IMAGES, 'jobs-view.png') });

  recordTiming('walkthrough', {
    seconds: Math.round(seconds * 10) / 10,
    marks: Object.fromEntries(Object.entries(marks).map(([k, v]) => [k, Math.round(v * 10) / 10])),
    target: 120
  });
});
