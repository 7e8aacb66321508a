/**
 * Issue 25, keyboard and accessibility of the Clusters panel in a real JupyterLab: the
 * safe choice first in destructive dialogs, focus kept on a job's row, one Tab stop for
 * the job list, names that contain what a control shows (WCAG 2.5.3, which axe does not
 * check), an axe-core pass in the light and dark themes, and a keyboard-only walk.
 */
import AxeBuilder from '@axe-core/playwright';
import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';
import { Locator } from '@playwright/test';
import { notebook, openPanel, row, waitReady } from './job-helpers';

test.describe.configure({ mode: 'serial' });

/** Every control's accessible name contains the words it shows (WCAG 2.5.3, which axe
 * does not check): a name a speech user can say. Symbols ("?", "×") are not words. */
async function labelNotInName(scope: Locator): Promise<string[]> {
  return scope.locator('button, [role="button"], select, a[href]').evaluateAll(els =>
    els
      .filter(el => (el as HTMLElement).offsetParent !== null)
      .map(el => {
        const shown = ((el as HTMLElement).innerText ?? '').trim().replace(/\s+/g, ' ');
        const labelled = el.getAttribute('aria-label');
        const name = (labelled ?? shown).toLowerCase();
        return { shown, name, tag: el.tagName };
      })
      .filter(c => /[a-z]/i.test(c.shown) && c.tag !== 'SELECT')
      .filter(c => !c.name.includes(c.shown.toLowerCase()))
      .map(c => `"${c.shown}" is named "${c.name}"`)
  );
}

test('keyboard: safe choice first in dialogs, focus back on the row, one Tab stop for the list, names that say what they show', async ({
  page,
  tmpPath
}) => {
  const nbPath = `${tmpPath}/keys.ipynb`;
  await page.contents.uploadContent(
    notebook([
      'import clusterlab as cl, time\n' +
        'def boom(v):\n    raise ValueError(f"bad value {v}")\n' +
        'bad = cl.cluster("local")(boom).submit(1)\n' +
        'ok = cl.cluster("local")(abs).submit(-1)\n' +
        'quiet = cl.cluster("local")(abs).map(range(-3, 0))\n' +
        'gone = cl.cluster("local")(time.sleep).submit(300); gone.cancel()\n' +
        'bad.exception(timeout=60); ok.result(timeout=60); quiet.wait(60)\n' +
        'slow = cl.cluster("local")(time.sleep).submit(300)\n' +
        'cl.profiles.save(cl.Profile(name="keepme", scheduler="local"))\n' +
        'print("ids:", slow.id, bad.id, ok.id, gone.id, quiet.id)'
    ]),
    'text',
    nbPath
  );
  await page.notebook.openByPath(nbPath);
  await page.notebook.activate('keys.ipynb');
  await page.notebook.runCell(0); // before the panel lists the profiles
  const panel = await openPanel(page);
  await waitReady(panel, /keys\.ipynb/);
  const text = ((await page.notebook.getCellTextOutput(0)) ?? []).join('');
  const [slowId, badId, okId, goneId, quietId] = /ids: ([^\n]+)/.exec(text)![1].trim().split(/\s+/);
  const slow = row(panel, slowId);
  await expect(slow).toHaveAttribute('data-state', 'RUNNING', { timeout: 30000 });
  await expect(row(panel, quietId)).toHaveAttribute('data-state', 'COMPLETED', { timeout: 30000 });

  // FAILED and CANCELLED rows offer no result to show or insert (a traceback instead).
  const bad = row(panel, badId);
  const gone = row(panel, goneId);
  await expect(bad).toHaveAttribute('data-state', 'FAILED');
  await expect(gone).toHaveAttribute('data-state', 'CANCELLED');
  await expect(bad.getByRole('button', { name: /^Insert result/ })).toHaveCount(0);
  await expect(bad.getByRole('button', { name: /^Show result/ })).toHaveCount(0);
  await expect(bad.getByRole('button', { name: /^Show traceback: / })).toHaveCount(1);
  await expect(gone.getByRole('button', { name: /^(Insert|Show) result/ })).toHaveCount(0);
  await expect(row(panel, okId).getByRole('button', { name: /^Insert result: / })).toHaveCount(1);

  // A finished job that printed nothing says so (not "no stdout yet").
  await row(panel, okId).getByRole('button', { name: /^Show log: / }).click();
  await expect(row(panel, okId).locator('.jp-clusterlab-logText')).toHaveText(
    '(it printed nothing to stdout)'
  );
  // An array: one Item menu for its log and its result.
  const quiet = row(panel, quietId);
  await quiet.getByRole('button', { name: /^Show log: / }).click();
  await quiet.getByRole('button', { name: /^Show result: / }).click();
  await expect(quiet.getByLabel(/^Item/)).toHaveCount(1);

  expect(await labelNotInName(panel)).toEqual([]);

  // The list is one Tab stop: only the current job and its buttons are in the Tab order;
  // Down moves to the next job.
  const list = panel.locator('.jp-clusterlab-jobList');
  const rowsInTabOrder = await list.evaluate(el => [
    ...new Set(
      [
        ...el.querySelectorAll(
          '[tabindex="0"], button:not([tabindex="-1"]), select:not([tabindex="-1"])'
        )
      ].map(e => e.closest('.jp-clusterlab-job')?.getAttribute('data-job-id'))
    )
  ]);
  expect(rowsInTabOrder).toHaveLength(1); // with 5+ jobs listed
  const rows = list.locator('.jp-clusterlab-job');
  await rows.first().focus();
  await page.keyboard.press('ArrowDown');
  await expect(rows.nth(1)).toBeFocused();
  await page.keyboard.press('ArrowUp');
  await expect(rows.first()).toBeFocused();

  // Cancel by keyboard: Enter opens the dialog on "Keep running"; Enter keeps it running.
  const cancel = slow.getByRole('button', { name: new RegExp(`^Cancel: .* ${slowId}$`) });
  await slow.focus();
  await cancel.focus();
  await page.keyboard.press('Enter');
  const dialog = page.locator('.jp-Dialog');
  await expect(dialog).toContainText('Cancel this running job?');
  await expect(dialog.getByRole('button', { name: 'Keep running' })).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(dialog).toHaveCount(0);
  await expect(slow).toHaveAttribute('data-state', 'RUNNING');
  // Now really: the Cancel job button, by keyboard; then focus is on the job's row.
  await cancel.focus();
  await page.keyboard.press('Enter');
  await dialog.getByRole('button', { name: 'Cancel job' }).focus();
  await page.keyboard.press('Enter');
  await expect(slow).toHaveAttribute('data-state', 'CANCELLED', { timeout: 30000 });
  await expect(slow).toBeFocused();

  // Delete profile: Enter keeps it.
  const item = panel.locator('.jp-clusterlab-profileItem[data-profile="keepme"]');
  await expect(item).toBeVisible({ timeout: 30000 });
  await item.click();
  await panel.getByRole('button', { name: 'Delete' }).click();
  await expect(dialog).toContainText("Delete the profile 'keepme'?");
  await expect(dialog.getByRole('button', { name: 'Cancel' })).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(dialog).toHaveCount(0);
  await expect(item).toBeVisible();
});

test('axe-core finds nothing in the panel, in the light and the dark theme', async ({
  page,
  tmpPath
}) => {
  // Jobs of every kind of row: completed, failed, cancelled, an array, one running.
  const nbPath = `${tmpPath}/axe.ipynb`;
  await page.contents.uploadContent(
    notebook([
      'import clusterlab as cl, time\n' +
        'def boom(v):\n    raise ValueError(v)\n' +
        'bad = cl.cluster("local")(boom).submit(1)\n' +
        'arr = cl.cluster("local")(abs).map(range(-4, 0))\n' +
        'slow = cl.cluster("local")(time.sleep).submit(120)\n' +
        'bad.exception(timeout=60); arr.wait(60)\nprint("ids:", bad.id)'
    ]),
    'text',
    nbPath
  );
  await page.notebook.openByPath(nbPath);
  await page.notebook.activate('axe.ipynb');
  await page.notebook.runCell(0);
  const panel = await openPanel(page);
  await waitReady(panel, /axe\.ipynb/);
  const badId = /ids: (\S+)/.exec(((await page.notebook.getCellTextOutput(0)) ?? []).join(''))![1];
  const bad = row(panel, badId);
  await expect(bad).toHaveAttribute('data-state', 'FAILED', { timeout: 30000 });
  const showTb = bad.getByRole('button', { name: /^Show traceback: / });
  await bad.focus();
  await showTb.focus();
  await page.keyboard.press('Enter');
  await expect(bad.locator('.jp-clusterlab-traceback')).toContainText('ValueError');
  await panel.getByRole('button', { name: 'New profile' }).click();
  await panel.locator('#clusterlab-field-scheduler').selectOption('slurm');
  const found: Record<string, string[]> = {};
  for (const theme of ['light', 'dark']) {
    if (theme === 'dark') {
      await page.theme.setDarkTheme();
    }
    const result = await new AxeBuilder({ page }).include('#clusterlab-sidebar').analyze();
    expect(result.passes.length).toBeGreaterThan(10); // it did look at the panel
    found[theme] = result.violations.map(
      v =>
        `${v.id} (${v.impact}): ${v.nodes
          .slice(0, 3)
          .map(n => n.target.join(' '))
          .join(' | ')}`
    );
  }
  await page.theme.setLightTheme();
  expect(found).toEqual({ light: [], dark: [] });
});

/** Press Tab (Shift+Tab with `back`) until the focused element matches, at most `limit`
 * times; what a keyboard user does to reach a control. */
async function tabTo(
  page: IJupyterLabPageFixture,
  matches: (el: { tag: string; text: string; label: string; id: string }) => boolean,
  limit = 80,
  back = false
): Promise<void> {
  for (let i = 0; i < limit; i++) {
    await page.keyboard.press(back ? 'Shift+Tab' : 'Tab');
    const el = await page.evaluate(() => {
      const a = document.activeElement as HTMLElement | null;
      return {
        tag: a?.tagName ?? '',
        text: (a?.innerText ?? '').trim(),
        label: a?.getAttribute('aria-label') ?? '',
        id: a?.id ?? ''
      };
    });
    if (matches(el)) {
      return;
    }
  }
  throw new Error('the control was not reached with the keyboard');
}

test('keyboard only: make a profile, run a job from a notebook, cancel it, read a traceback', async ({
  page,
  tmpPath
}) => {
  const nbPath = `${tmpPath}/walk.ipynb`;
  await page.contents.uploadContent(
    notebook([
      'import clusterlab as cl, time\n' +
        'def boom(v):\n    raise ValueError(f"walk {v}")\n' +
        'bad = cl.cluster("kbwalk")(boom).submit(7)\n' +
        'slow = cl.cluster("kbwalk")(time.sleep).submit(300)\n' +
        'print("ids:", slow.id, bad.id)'
    ]),
    'text',
    nbPath
  );
  await page.notebook.openByPath(nbPath);
  await page.notebook.activate('walk.ipynb');
  // Open the panel with its shortcut, from the notebook.
  await page.keyboard.press('Escape');
  await page.keyboard.press('Control+Shift+Y');
  const panel = page.locator('#clusterlab-sidebar');
  await waitReady(panel, /walk\.ipynb/);
  // New profile -> name -> Save, by Tab, typing and Enter.
  await panel.locator('.jp-clusterlab-kernel').focus();
  await tabTo(page, el => el.tag === 'BUTTON' && el.text === 'New profile');
  await page.keyboard.press('Enter');
  await tabTo(page, el => el.id === 'clusterlab-field-name');
  await page.keyboard.type('kbwalk');
  await tabTo(page, el => el.tag === 'BUTTON' && el.text === 'Save');
  await page.keyboard.press('Enter');
  await expect(panel.getByRole('status').filter({ hasText: "Saved 'kbwalk'" })).toBeVisible();
  // Run the cell (Shift+Enter in the notebook).
  await page.notebook.selectCells(0);
  await page.keyboard.press('Shift+Enter');
  await expect
    .poll(async () => ((await page.notebook.getCellTextOutput(0)) ?? []).join(''), {
      timeout: 60000
    })
    .toContain('ids:');
  const text = ((await page.notebook.getCellTextOutput(0)) ?? []).join('');
  const [slowId, badId] = /ids: ([^\n]+)/.exec(text)![1].trim().split(/\s+/);
  const slow = row(panel, slowId);
  await expect(slow).toHaveAttribute('data-state', 'RUNNING', { timeout: 60000 });
  // Into the job list (one Tab stop), down to the running job, its Cancel, the dialog.
  await panel.locator('.jp-clusterlab-search').focus();
  await tabTo(page, el => el.tag === 'LI');
  for (let i = 0; i < 30 && !(await slow.evaluate(el => el === document.activeElement)); i++) {
    await page.keyboard.press('ArrowDown');
  }
  await expect(slow).toBeFocused();
  await tabTo(page, el => el.label.startsWith('Cancel: '), 6);
  await page.keyboard.press('Enter');
  const dialog = page.locator('.jp-Dialog');
  await expect(dialog).toContainText('Cancel this running job?');
  await page.keyboard.press('Tab'); // from "Keep running" to "Cancel job"
  await expect(dialog.getByRole('button', { name: 'Cancel job' })).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(slow).toHaveAttribute('data-state', 'CANCELLED', { timeout: 30000 });
  await expect(slow).toBeFocused();
  // Up or down to the failed job, its traceback, read from the focused text.
  const bad = row(panel, badId);
  await expect(bad).toHaveAttribute('data-state', 'FAILED', { timeout: 60000 });
  for (let i = 0; i < 30 && !(await bad.evaluate(el => el === document.activeElement)); i++) {
    await page.keyboard.press('ArrowDown');
  }
  await expect(bad).toBeFocused();
  await tabTo(page, el => el.label.startsWith('Show traceback: '), 6);
  await page.keyboard.press('Enter');
  await tabTo(page, el => el.tag === 'PRE', 8);
  await expect
    .poll(() => page.evaluate(() => (document.activeElement as HTMLElement).innerText))
    .toContain('ValueError: walk 7');
});
