/**
 * A notebook whose kernel runs in a SLURM job (issue 31), started from the Clusters panel:
 * the profile card's "Start a notebook on this cluster" shows the resource fields with
 * their tooltips, refuses a bad value with Python's own sentence under its field, and
 * Start opens a new notebook with the profile's kernel; a cell there prints the job's
 * SLURM_JOB_ID, and shutting the kernel down ends that job. The cluster's Python is the
 * sandbox's venv with ipykernel (tests/cluster/sandbox.py ensure_kernel_venv).
 */
import { expect, test } from '@jupyterlab/galata';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

import { IMAGES, ISandbox, openPanel, sandbox, waitReady } from './job-helpers';

const ROOT = path.join(__dirname, '..', '..');
const PROFILE = 'kern-ui';

function python(): string {
  const venv = path.join(ROOT, process.env.VENV ?? '.venv', 'bin', 'python');
  return fs.existsSync(venv) ? venv : 'python';
}

/** Save the profile (SLURM over SSH, the cluster Python with ipykernel) before the
 * page loads, so the panel lists it. */
function saveProfile(s: ISandbox & { user_home: string }): void {
  const code =
    'import sys\n' +
    'import clusterlab as cl\n' +
    'from tests.cluster import sandbox as sb\n' +
    'py = sb.ensure_kernel_venv(sys.argv[1], sys.argv[2])\n' +
    `cl.profiles.save(cl.Profile(name=${JSON.stringify(PROFILE)}, scheduler="slurm", ` +
    `host=${JSON.stringify(s.ssh_host)}, port=${s.ssh_port}, user=${JSON.stringify(s.ssh_user)}, ` +
    `key_file=${JSON.stringify(s.ssh_key)}, known_hosts=${JSON.stringify(s.known_hosts)}, ` +
    'python=str(py), poll_interval=1))\n';
  execFileSync(python(), ['-c', code, s.ssh_user, s.user_home], {
    cwd: ROOT,
    encoding: 'utf-8'
  });
}

/** The SLURM state of a job, '' once it has left the queue. */
function slurmState(jobId: string): string {
  return execFileSync('squeue', ['-h', '-j', jobId, '-o', '%T'], {
    encoding: 'utf-8'
  }).trim();
}

test.describe.configure({ mode: 'serial' });

test.beforeAll(() => {
  saveProfile(sandbox() as ISandbox & { user_home: string });
});

test('start a notebook on the SLURM sandbox from the panel', async ({ page }) => {
  test.setTimeout(150000);
  await page.setViewportSize({ width: 1024, height: 1000 }); // the whole card in view
  const panel = await openPanel(page);
  await waitReady(panel);
  const card = panel.locator(`.jp-clusterlab-startNotebook[data-profile="${PROFILE}"]`);
  await card.getByRole('button', { name: 'Start a notebook on this cluster' }).click();
  const form = card.getByRole('form', { name: `Notebook kernel on '${PROFILE}'` });
  for (const label of ['Cores', 'Memory', 'Time', 'GPUs', 'Partition']) {
    await expect(form.getByLabel(label, { exact: true })).toHaveAttribute('title', /\S/);
  }

  // A bad value: Python's own sentence under its field, no notebook.
  await form.getByLabel('Cores', { exact: true }).fill('four');
  await form.getByRole('button', { name: 'Start', exact: true }).click();
  await expect(form.locator('[data-field="cores"] .jp-clusterlab-fieldError')).toContainText(
    'must be a whole number'
  );
  await expect(page.locator('.jp-NotebookPanel')).toHaveCount(0);

  await form.getByLabel('Cores', { exact: true }).fill('1');
  await expect(form.locator('.jp-clusterlab-fieldError')).toHaveCount(0);
  await form.getByLabel('Time', { exact: true }).fill('0:10:00');
  await card.scrollIntoViewIfNeeded();
  await card.screenshot({ path: path.join(IMAGES, 'kernels-start.png') });
  await form.getByRole('button', { name: 'Start', exact: true }).click();
  await expect(card.getByRole('status')).toContainText(
    `Python on ${PROFILE} (SLURM, 1 core, 10 min)`
  );

  // The new notebook, on the profile's kernel (its job queued and started meanwhile).
  const nb = page.locator('.jp-NotebookPanel');
  await expect(nb).toHaveCount(1);
  await expect(
    page.locator('.jp-NotebookPanel-toolbar .jp-KernelName, .jp-Toolbar-kernelName').first()
  ).toContainText(`Python on ${PROFILE}`, { timeout: 30000 });
  await page.notebook.setCell(0, 'code', 'import os; print("job", os.environ["SLURM_JOB_ID"])');
  await page.notebook.runCell(0);
  await expect(nb.locator('.jp-OutputArea-output').first()).toContainText(/job \d+/, {
    timeout: 90000
  });
  const text = (await nb.locator('.jp-OutputArea-output').first().textContent()) ?? '';
  const jobId = /job (\d+)/.exec(text)![1];
  expect(slurmState(jobId)).toBe('RUNNING');
  // The panel stays on its own kernel (the cluster kernel has no clusterlab, and its
  // ledger is not this machine's), so its requests still work.
  await expect(panel.locator('.jp-clusterlab-kernel')).toHaveAttribute('data-status', 'ready');
  await expect(panel.locator('.jp-clusterlab-kernel')).toContainText('background kernel');
  // The allocation's time left in the status bar; 10 minutes asked, so the warning is due.
  await expect(page.locator('.jp-clusterlab-allocation')).toHaveText(
    new RegExp(`^${PROFILE}: (\\d+ min|under a minute) left$`),
    { timeout: 30000 }
  );
  await expect(page.locator('.Toastify__toast').filter({ hasText: 'ends in' })).toContainText(
    `The kernel's allocation on '${PROFILE}' (job ${jobId}) ends in`
  );
  await page.screenshot({ path: path.join(IMAGES, 'kernels-notebook.png') });

  // Shut the kernel down: its job ends, no allocation is left behind.
  await page.evaluate(async () => {
    const widget = window.jupyterapp.shell.currentWidget as any;
    await widget.sessionContext.session.shutdown();
  });
  await expect
    .poll(() => slurmState(jobId), { timeout: 30000, intervals: [500] })
    .toMatch(/^(|COMPLETING|COMPLETED)$/);
});
