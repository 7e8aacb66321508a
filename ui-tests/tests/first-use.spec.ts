/**
 * Issue 25, "first use without friction", in a real JupyterLab: what a newcomer meets
 * first. A submission whose host does not resolve (`nosuchhost.invalid`: nothing leaves
 * this machine) is one sentence in the notebook and a FAILED row in the panel; the
 * ipywidgets monitor reads well at a usual notebook width (~870 px) and at 600 px.
 */
import { expect, test } from '@jupyterlab/galata';
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
  // Import refuses names that exist (nothing is replaced): paste only the deleted one.
  const nokey = /\[profiles\.nokey\][^[]*/.exec(exported)![0];
  await box.fill(nokey);
  await panel.getByRole('button', { name: 'Import' }).click();
  await expect(panel.locator('.jp-clusterlab-transfer [role="status"]')).toContainText('nokey');
  await expect(item).toBeVisible();
});
