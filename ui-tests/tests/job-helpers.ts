/**
 * Helpers every Galata spec shares (clusters, jobs, panel-form, envbuilds, walkthrough):
 * open the panel, upload notebooks, find a job's row by id. The sandbox facts come from
 * scripts/ui-test.sh.
 */
import { expect, IJupyterLabPageFixture } from '@jupyterlab/galata';
import { Locator } from '@playwright/test';
import * as fs from 'fs';
import * as path from 'path';

export interface ISandbox {
  ssh_host: string;
  ssh_port: number;
  ssh_user: string;
  ssh_key: string;
  known_hosts: string;
  remote_python: string;
}

export function sandbox(): ISandbox {
  const file = process.env.CLUSTERLAB_SANDBOX_JSON;
  if (!file) {
    throw new Error('CLUSTERLAB_SANDBOX_JSON is not set: run scripts/ui-test.sh');
  }
  return JSON.parse(fs.readFileSync(file, 'utf-8'));
}

export const IMAGES =
  process.env.CLUSTERLAB_DOCS_IMAGES ?? path.join(__dirname, '..', '..', 'docs', 'images');

export async function openPanel(page: IJupyterLabPageFixture): Promise<Locator> {
  const tab = page.locator('.jp-SideBar [data-id="clusterlab-sidebar"]');
  await tab.waitFor();
  const panel = page.locator('#clusterlab-sidebar');
  if (!(await panel.isVisible())) {
    await tab.click();
  }
  await expect(panel).toBeVisible();
  return panel;
}

/** Collapse the left sidebar (the panel hidden, still alive). */
export async function hidePanel(page: IJupyterLabPageFixture): Promise<void> {
  const panel = page.locator('#clusterlab-sidebar');
  if (await panel.isVisible()) {
    await page.locator('.jp-SideBar [data-id="clusterlab-sidebar"]').click();
  }
  await expect(panel).toBeHidden();
}

/** Drag the handle between the left sidebar and the main area 160 px to the right, so
 * the panel's screenshots show it wide. */
export async function widenSidebar(page: IJupyterLabPageFixture): Promise<void> {
  const handle = page.locator('#jp-main-split-panel > .lm-SplitPanel-handle').first();
  const box = await handle.boundingBox();
  if (box) {
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + 160, box.y + box.height / 2, { steps: 5 });
    await page.mouse.up();
  }
}

export async function waitReady(panel: Locator, label?: RegExp): Promise<void> {
  const bar = panel.locator('.jp-clusterlab-kernel');
  await expect(bar).toHaveAttribute('data-status', 'ready', { timeout: 90000 });
  if (label) {
    await expect(bar).toContainText(label, { timeout: 90000 });
  }
}

export function notebook(cells: string[]): string {
  return JSON.stringify({
    cells: cells.map(source => ({
      cell_type: 'code',
      execution_count: null,
      metadata: {},
      outputs: [],
      source
    })),
    metadata: {
      kernelspec: { display_name: 'Python 3', language: 'python', name: 'python3' }
    },
    nbformat: 4,
    nbformat_minor: 5
  });
}

/** Upload a notebook of `cells`, open it and make it the active one (the panel's kernel). */
export async function openNotebook(
  page: IJupyterLabPageFixture,
  dir: string,
  name: string,
  cells: string[]
): Promise<void> {
  await page.contents.uploadContent(notebook(cells), 'text', `${dir}/${name}`);
  // As "Open" does; the file browser may be hidden behind the Clusters panel.
  await page.evaluate(
    async file => {
      await window.jupyterapp.commands.execute('docmanager:open', { path: file });
    },
    `${dir}/${name}`
  );
  await page.locator('.jp-NotebookPanel').filter({ hasText: cells[0].split('\n')[0] }).first().waitFor();
  await page.notebook.activate(name);
}

/** The text output of a cell, joined. */
export async function cellText(page: IJupyterLabPageFixture, index: number): Promise<string> {
  return ((await page.notebook.getCellTextOutput(index)) ?? []).join('');
}

/** Job ids a cell printed as `ids: a b c`. */
export async function printedIds(page: IJupyterLabPageFixture, index: number): Promise<string[]> {
  const text = await cellText(page, index);
  const match = /ids: ([^\n]+)/.exec(text);
  if (!match) {
    throw new Error(`cell ${index} printed no ids: ${text}`);
  }
  return match[1].trim().split(/\s+/);
}

export function row(panel: Locator, id: string): Locator {
  return panel.locator(`.jp-clusterlab-job[data-job-id="${id}"]`);
}

/** Python that saves a SLURM-over-SSH profile for the sandbox (the form has its own tests). */
export function sshProfileCode(name: string): string {
  const s = sandbox();
  return (
    'import clusterlab as cl\n' +
    `cl.profiles.save(cl.Profile(name=${JSON.stringify(name)}, scheduler="slurm", ` +
    `host=${JSON.stringify(s.ssh_host)}, port=${s.ssh_port}, user=${JSON.stringify(s.ssh_user)}, ` +
    `key_file=${JSON.stringify(s.ssh_key)}, known_hosts=${JSON.stringify(s.known_hosts)}, ` +
    `python=${JSON.stringify(s.remote_python)}, poll_interval=1))`
  );
}

/** Where a spec writes what it measured (the run's results dir), and says it. */
export function recordTiming(name: string, data: Record<string, unknown>): void {
  const dir = process.env.CLUSTERLAB_UI_RESULTS ?? path.join(__dirname, '..', 'test-results');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.timing.json`);
  fs.writeFileSync(file, JSON.stringify(data, null, 2) + '\n');
  process.stdout.write(`${name}: ${JSON.stringify(data)} (written to ${file})\n`);
}
