/**
 * Issue 25, "first use without friction", in a real JupyterLab: what a newcomer meets
 * first. A submission whose host does not resolve (`nosuchhost.invalid`: nothing leaves
 * this machine) is one sentence in the notebook and a FAILED row in the panel; the
 * ipywidgets monitor reads well at a usual notebook width (~870 px) and at 600 px.
 */
import AxeBuilder from '@axe-core/playwright';
import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';
import { Locator } from '@playwright/test';
import * as path from 'path';
import { IMAGES, notebook, openPanel, row, waitReady } from './job-helpers';

test.describe.configure({ mode: 'serial' });

const NOSUCH =
  'import clusterlab as cl\n' +
  'cl.profiles.save(cl.Profile(name="nosuch", scheduler="slurm", host="nosuchhost.invalid", user="jdoe"))';

interface IBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

function overlaps(a: IBox, b: IBox): boolean {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}

/** Each row's height, its overflow, and whether an array's bar runs under a button. */
async function measureRows(monitor: Locator): Promise<
  { height: number; overflow: number; barUnderButton: boolean; text: string }[]
> {
  return monitor.locator('.clusterlab-row').evaluateAll(rows =>
    rows.map(r => {
      const box = r.getBoundingClientRect();
      const buttons = [...r.querySelectorAll('button')].map(b => b.getBoundingClientRect());
      const bars = [...r.querySelectorAll('span[title]')]
        .filter(s => /completed|failed|running|pending/.test(s.getAttribute('title') ?? ''))
        .map(s => s.getBoundingClientRect());
      const hit = (a: DOMRect, b: DOMRect) =>
        a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
      return {
        height: box.height,
        overflow: r.scrollWidth - r.clientWidth,
        barUnderButton: bars.some(bar => buttons.some(b => hit(bar, b))),
        text: (r.textContent ?? '').slice(0, 80)
      };
    })
  );
}

test('an unreachable host: one sentence in the notebook, a FAILED row with it in the panel', async ({
  page,
  tmpPath
}) => {
  const nbPath = `${tmpPath}/nosuch.ipynb`;
  await page.contents.uploadContent(
    notebook([NOSUCH, 'job = cl.cluster("nosuch")(abs).submit(1)\nprint("id:", job.id)', '%load_ext clusterlab', '%%cluster nosuch\nx = 1']),
    'text',
    nbPath
  );
  await page.notebook.openByPath(nbPath);
  await page.notebook.activate('nosuch.ipynb');
  await page.notebook.run();
  const printed = ((await page.notebook.getCellTextOutput(1)) ?? []).join('');
  const id = /id: (\S+)/.exec(printed)?.[1] ?? '';
  expect(id).not.toBe('');
  // The %%cluster cell: the user's line and the sentence, no clusterlab frames.
  const error = page.locator('.jp-Cell').nth(3).locator('.jp-OutputArea-output');
  await expect(error).toContainText('cannot reach jdoe@nosuchhost.invalid:22');
  const tb = (await error.textContent()) ?? '';
  expect(tb).not.toMatch(/clusterlab[/\\]|magic\.py|submit\.py|ssh\.py/);
  expect(tb.length).toBeLessThan(1200);
  const panel = await openPanel(page);
  await waitReady(panel);
  const failed = row(panel, id);
  await expect(failed).toContainText('FAILED', { timeout: 30000 });
  await expect(failed).toContainText('not submitted: cannot reach jdoe@nosuchhost.invalid:22');
});

test('cl.monitor() reads well at 870 px and at 600 px: rows of two lines, nothing under the buttons, Result under its row', async ({
  page,
  tmpPath
}) => {
  await page.setViewportSize({ width: 1400, height: 1000 });
  const nbPath = `${tmpPath}/monitor.ipynb`;
  await page.contents.uploadContent(
    notebook([
      NOSUCH +
        '\ncl.cluster("nosuch")(abs).submit(1)\n' +
        'def boom(v):\n    raise ValueError(f"bad value {v}")\n' +
        'bad = cl.cluster("local")(boom).submit(3)\n' +
        'good = cl.cluster("local")(abs).submit(-2)\n' +
        'arr = cl.cluster("local")(abs).map(range(-8, 0))\n' +
        'arr.wait(60); bad.exception(timeout=60); good.result(timeout=60)\nprint("id:", bad.id)',
      'cl.monitor(limit=6)'
    ]),
    'text',
    nbPath
  );
  await page.notebook.openByPath(nbPath);
  await page.notebook.activate('monitor.ipynb');
  await page.notebook.run();
  const badId = /id: (\S+)/.exec(((await page.notebook.getCellTextOutput(0)) ?? []).join(''))?.[1];
  const monitor = page.locator('.clusterlab-monitor').first();
  await expect(monitor).toContainText('8/8', { timeout: 60000 });
  await expect(monitor).toContainText('not submitted: cannot reach');
  const measured: Record<string, unknown> = {};
  for (const width of [870, 600]) {
    await monitor.evaluate((el, w) => {
      (el as HTMLElement).style.width = `${w}px`;
    }, width);
    await expect.poll(async () => (await monitor.boundingBox())?.width).toBe(width);
    const rows = await measureRows(monitor);
    measured[String(width)] = rows.map(r => Math.round(r.height));
    expect(rows.length).toBeGreaterThanOrEqual(4);
    for (const r of rows) {
      // Two or three short lines: the old fixed columns made rows 150-250 px tall.
      expect(r.height, `row "${r.text}" at ${width} px`).toBeLessThan(100);
      expect(r.overflow, `row "${r.text}" overflows at ${width} px`).toBeLessThanOrEqual(1);
      expect(r.barUnderButton, `the bar runs under a button at ${width} px`).toBe(false);
    }
  }
  // "Result" of the failed job opens right under its row, the traceback's last line once.
  const badRow = monitor.locator('.clusterlab-row').filter({ hasText: badId ?? '' });
  await badRow.getByRole('button', { name: 'Result' }).click();
  const detail = monitor.locator('.clusterlab-detail pre');
  await expect(detail).toContainText('ValueError: bad value 3');
  const text = (await detail.textContent()) ?? '';
  expect(text.split('ValueError: bad value 3').length - 1).toBe(1);
  const rowBox = (await badRow.boundingBox()) as IBox;
  const detailBox = (await monitor.locator('.clusterlab-detail').boundingBox()) as IBox;
  expect(Math.abs(detailBox.y - (rowBox.y + rowBox.height))).toBeLessThan(12);
  expect(overlaps(rowBox, detailBox)).toBe(false);
  process.stdout.write(`monitor row heights (px) by width: ${JSON.stringify(measured)}\n`);
});

test('help bubbles are whole at the default sidebar width; Esc closes one, Enter and Space toggle it', async ({
  page
}) => {
  const panel = await openPanel(page);
  await waitReady(panel);
  const side = (await panel.boundingBox()) as IBox;
  expect(side.width).toBeLessThan(300); // JupyterLab's default sidebar (~250 px)
  await panel.getByRole('button', { name: 'New profile' }).click();
  await panel.locator('#clusterlab-field-scheduler').selectOption('slurm');
  const helps = panel.locator('.jp-clusterlab-help');
  const count = await helps.count();
  expect(count).toBeGreaterThan(12);
  const cut: string[] = [];
  for (let i = 0; i < count; i++) {
    const help = helps.nth(i);
    await help.scrollIntoViewIfNeeded();
    await help.focus();
    const label = (await help.getAttribute('aria-label')) ?? String(i);
    const tipId = await help.getAttribute('aria-describedby');
    const bubble = page.locator(`.jp-clusterlab-bubble[data-help="${tipId}"]`);
    if ((await bubble.count()) !== 1) {
      cut.push(`${label}: no bubble`);
      continue;
    }
    const verdict = await bubble.evaluate(el => {
      const r = el.getBoundingClientRect();
      if (r.height < 10) {
        return 'not open';
      }
      if (r.top < 0 || r.bottom > innerHeight || r.left < 0 || r.right > innerWidth) {
        return 'outside the window';
      }
      if (el.scrollHeight > el.clientHeight + 1) {
        return 'text hidden below its end';
      }
      const corners = [
        [r.left + 3, r.top + 3],
        [r.right - 3, r.top + 3],
        [r.left + 3, r.bottom - 3],
        [r.right - 3, r.bottom - 3]
      ];
      for (const [x, y] of corners) {
        const hit = document.elementFromPoint(x, y);
        if (!hit || !(hit === el || el.contains(hit))) {
          return `cut at (${Math.round(x)}, ${Math.round(y)})`;
        }
      }
      return 'whole';
    });
    if (verdict !== 'whole') {
      cut.push(`${label}: ${verdict}`);
    }
  }
  expect(cut).toEqual([]);
  const python = panel.locator('[data-field="python"] .jp-clusterlab-help');
  await python.scrollIntoViewIfNeeded();
  await python.focus();
  await page.screenshot({
    path: path.join(IMAGES, 'help-bubble.png'),
    clip: { x: 0, y: 0, width: side.x + side.width + 10, height: page.viewportSize()!.height }
  });

  // WCAG 1.4.13 by keyboard: Esc closes the bubble (focus stays), Enter and Space toggle it.
  const help = panel.locator('[data-field="python"] .jp-clusterlab-help');
  // Whatever shows the text (a bubble of the page, or the field's own tooltip span).
  const shownHeight = () =>
    page.evaluate(() =>
      Math.max(
        0,
        ...[...document.querySelectorAll('.jp-clusterlab-bubble, [data-field="python"] .jp-clusterlab-tip')].map(
          el => el.getBoundingClientRect().height
        )
      )
    );
  await help.focus();
  expect(await shownHeight()).toBeGreaterThan(10);
  await page.keyboard.press('Escape');
  expect(await shownHeight()).toBeLessThanOrEqual(1);
  await expect(help).toBeFocused();
  await expect(help).toHaveAttribute('aria-expanded', 'false');
  await page.keyboard.press('Enter');
  await expect(help).toHaveAttribute('aria-expanded', 'true');
  expect(await shownHeight()).toBeGreaterThan(10);
  await page.keyboard.press('Enter');
  await expect(help).toHaveAttribute('aria-expanded', 'false');
  await page.keyboard.press(' ');
  await expect(help).toHaveAttribute('aria-expanded', 'true');
});

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

test('the panel has "Set up SSH key" and Export / Import, as the ipywidgets form has', async ({
  page
}) => {
  const panel = await openPanel(page);
  await waitReady(panel);
  await panel.getByRole('button', { name: 'New profile' }).click();
  await panel.locator('#clusterlab-field-scheduler').selectOption('slurm');
  await panel.locator('#clusterlab-field-name').fill('nokey');
  await panel.locator('#clusterlab-field-host').fill('nosuchhost.invalid');
  await panel.locator('#clusterlab-field-user').fill('jdoe');
  const key = panel.getByRole('group', { name: 'Set up SSH key' });
  await key.getByLabel(/^Password on the host/).fill('secret');
  await key.getByLabel(/^Key file/).fill(`${process.env.TMPDIR ?? '/tmp'}/first-use-key`);
  await key.getByRole('button', { name: 'Set up SSH key' }).click();
  await expect(key.getByRole('status')).toContainText(
    'Key set-up failed: cannot reach jdoe@nosuchhost.invalid:22',
    { timeout: 60000 }
  );
  await expect(key.getByLabel(/^Password on the host/)).toHaveValue(''); // not kept
  await expect(key.locator('.jp-clusterlab-checkLine').first()).toContainText('key: ');

  await panel.getByRole('button', { name: 'Save' }).click();
  const item = panel.locator('.jp-clusterlab-profileItem[data-profile="nokey"]');
  await expect(item).toBeVisible();
  await panel.getByText('Export / Import profiles').click();
  await panel.getByRole('button', { name: 'Export' }).click();
  const box = panel.getByLabel(/^Exported profiles/);
  await expect(box).toHaveValue(/nosuchhost\.invalid/);
  const exported = await box.inputValue();
  await item.click();
  await panel.getByRole('button', { name: 'Delete' }).click();
  await page.locator('.jp-Dialog').getByRole('button', { name: 'Delete' }).click();
  await expect(item).toHaveCount(0);
  await box.fill(exported);
  await panel.getByRole('button', { name: 'Import' }).click();
  await expect(panel.locator('.jp-clusterlab-transfer [role="status"]')).toContainText('nokey');
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
