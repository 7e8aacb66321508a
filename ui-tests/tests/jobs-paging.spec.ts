/**
 * Issue 30 item 2: with 10,000 jobs in the ledger the panel shows one page of them
 * ("Showing 1–100 of 10,000") and Next shows rows 101–200; the kernel reads only that
 * page. The rows are written into the ledger by tests/ledger_seed.py (no job runs), dated
 * a day ahead so they are the newest, and removed afterwards. The time from opening the
 * panel to the first page drawn is recorded (jobs-paging.timing.json; docs/performance.md).
 */
import { expect, test } from '@jupyterlab/galata';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

import { IMAGES, openPanel, recordTiming, row, waitReady, widenSidebar } from './job-helpers';

const ROOT = path.join(__dirname, '..', '..');
const PREFIX = 'ui-page-';
const COUNT = 10000;

function python(): string {
  const venv = path.join(ROOT, process.env.VENV ?? '.venv', 'bin', 'python');
  return fs.existsSync(venv) ? venv : 'python';
}

function ledgerSeed(...args: string[]): { total?: number } {
  const out = execFileSync(python(), ['-m', 'tests.ledger_seed', ...args], {
    cwd: ROOT,
    encoding: 'utf-8'
  });
  return JSON.parse(out.trim().split('\n').pop() ?? '{}');
}

const id = (i: number) => `${PREFIX}${String(i).padStart(5, '0')}`;
const fmt = (n: number) => n.toLocaleString('en-US');

test.afterAll(() => {
  ledgerSeed('remove', PREFIX); // the other specs see the ledger as it was
});

test('10,000 jobs in the ledger: the panel shows the first page, the total, and Next', async ({
  page
}) => {
  // Failed before: the panel asked for the newest 500 and drew them all; the jobs past
  // the 500th could not be reached ("Showing the newest 500 of 10000 jobs.").
  const panel = await openPanel(page);
  await waitReady(panel);
  const { total } = ledgerSeed('seed', String(COUNT), PREFIX);
  expect(total).toBeGreaterThanOrEqual(COUNT);

  // Opening the panel: hide it, reload the page (the panel's kernel stays), open it and
  // time until the first page is drawn.
  await page.reload();
  const tab = page.locator('.jp-SideBar [data-id="clusterlab-sidebar"]');
  await tab.waitFor();
  const sidebar = page.locator('#clusterlab-sidebar');
  if (await sidebar.isVisible()) {
    await tab.click();
    await expect(sidebar).toBeHidden();
  }
  // Timed in the page (Playwright's own polling would round to its interval): from the
  // click on the tab to the first row drawn, then a refresh's round trip and redraw.
  const first = `#clusterlab-sidebar .jp-clusterlab-job[data-job-id="${id(0)}"]`;
  // The clock starts at the tab's pointerdown (lumino's tab bar acts on it) and stops
  // at the first frame where the row is drawn; Playwright clicks in between.
  await page.evaluate(selector => {
    const tab = document.querySelector('.jp-SideBar [data-id="clusterlab-sidebar"]');
    (window as any).clusterlabDrawn = new Promise<number>((resolve, reject) => {
      let start = -1;
      const began = performance.now();
      tab?.addEventListener('pointerdown', () => (start = performance.now()), {
        capture: true,
        once: true
      });
      const check = () => {
        const el = document.querySelector(selector) as HTMLElement | null;
        if (start >= 0 && el && el.offsetParent !== null) {
          resolve((performance.now() - start) / 1000);
        } else if (performance.now() - began > 60000) {
          reject(new Error(`no ${selector} 60 s after opening the panel`));
        } else {
          requestAnimationFrame(check);
        }
      };
      check();
    });
  }, first);
  await tab.click();
  const drawn = await page.evaluate(() => (window as any).clusterlabDrawn as Promise<number>);
  await expect(row(sidebar, id(0))).toBeVisible();
  const refreshed = await page.evaluate(async () => {
    const start = performance.now();
    await window.jupyterapp.commands.execute('clusterlab:refresh');
    await new Promise(resolve => requestAnimationFrame(() => setTimeout(resolve, 0)));
    return (performance.now() - start) / 1000;
  });
  recordTiming('jobs-paging', {
    ledger_rows: total,
    open_to_first_page_s: Number(drawn.toFixed(3)),
    refresh_s: Number(refreshed.toFixed(3)),
    rows_drawn: await sidebar.locator('.jp-clusterlab-job').count()
  });

  const pager = sidebar.getByRole('group', { name: 'Pages of jobs' });
  await expect(pager).toContainText(`Showing 1–100 of ${fmt(total ?? 0)}`);
  await expect(sidebar.locator('.jp-clusterlab-job')).toHaveCount(100);
  await expect(row(sidebar, id(99))).toBeVisible();
  await expect(row(sidebar, id(100))).toHaveCount(0);
  const previous = pager.getByRole('button', { name: 'Previous page of jobs' });
  const next = pager.getByRole('button', { name: 'Next page of jobs' });
  await expect(previous).toBeDisabled();
  await expect(next).toHaveAttribute('title', /Show the next 100 older jobs/);

  // Next, by keyboard as by mouse: rows 101-200.
  await next.focus();
  await page.keyboard.press('Enter');
  await expect(pager).toContainText(`Showing 101–200 of ${fmt(total ?? 0)}`);
  await expect(row(sidebar, id(100))).toBeVisible();
  await expect(row(sidebar, id(199))).toBeVisible();
  await expect(row(sidebar, id(0))).toHaveCount(0);
  await expect(sidebar.locator('.jp-clusterlab-job')).toHaveCount(100);
  await expect(previous).toBeEnabled();
  await widenSidebar(page);
  await pager.screenshot({ path: path.join(IMAGES, 'panel-jobs-pager.png') });

  // A search is asked of the ledger: it finds a job on page 51.
  await sidebar.getByLabel('Search jobs by name or id').fill(id(5000));
  await expect(row(sidebar, id(5000))).toBeVisible();
  await expect(sidebar.locator('.jp-clusterlab-job')).toHaveCount(1);
  await sidebar.getByLabel('Search jobs by name or id').fill('');
  await expect(pager).toContainText(`Showing 1–100 of ${fmt(total ?? 0)}`);
});
