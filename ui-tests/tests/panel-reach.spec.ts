/**
 * The last session's note: "the bottom of the Jobs section may be unreachable by mouse at
 * 1280x720". A long job list in a 1280x720 window: the mouse wheel over the Jobs section
 * brings its last row into view, and its buttons take a real click (nothing covers them),
 * with the profile list alone and with a new profile's form open above the jobs.
 */
import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';
import { Locator } from '@playwright/test';

import { openNotebook, openPanel, printedIds, waitReady } from './job-helpers';

test.use({ viewport: { width: 1280, height: 720 } });

/** Wheel over the Jobs section to its end; its last row's "Copy id" is then in the
 * window, on top, and a mouse click on it works. */
async function reachLastJob(page: IJupyterLabPageFixture, panel: Locator): Promise<void> {
  const section = panel.locator('#clusterlab-jobs');
  const box = await section.boundingBox();
  expect(box).not.toBeNull();
  await page.mouse.move(box!.x + box!.width / 2, box!.y + Math.min(box!.height / 2, 40));
  for (let i = 0; i < 15; i++) {
    await page.mouse.wheel(0, 1500);
  }
  const copy = panel
    .locator('.jp-clusterlab-job')
    .last()
    .getByRole('button', { name: /^Copy id: / });
  await expect(copy).toBeInViewport();
  const target = await copy.boundingBox();
  expect(target!.y + target!.height).toBeLessThanOrEqual(720);
  const [x, y] = [target!.x + target!.width / 2, target!.y + target!.height / 2];
  // What the mouse would hit there is the button itself.
  const hit = await page.evaluate(
    ([px, py]) => document.elementFromPoint(px, py)?.closest('button')?.textContent ?? null,
    [x, y]
  );
  expect(hit).toBe('Copy id');
  await page.mouse.click(x, y);
  await expect(
    page.locator('.Toastify__toast').filter({ hasText: 'Copied job id' }).first()
  ).toBeVisible();
}

test('at 1280x720 the last job of a long list is reached and clicked with the mouse', async ({
  page,
  tmpPath
}) => {
  await openNotebook(page, tmpPath, 'many.ipynb', [
    "import clusterlab as cl\njobs = [cl.cluster('local')(abs).submit(-i) for i in range(14)]\n" +
      "print('ids:', ' '.join(j.id for j in jobs if j.result(timeout=120) is not None))"
  ]);
  const panel = await openPanel(page);
  await waitReady(panel, /many\.ipynb/);
  await page.notebook.runCell(0);
  const ids = await printedIds(page, 0);
  expect(ids).toHaveLength(14);
  await page.evaluate(() => window.jupyterapp.commands.execute('clusterlab:refresh'));
  await expect
    .poll(() => panel.locator('.jp-clusterlab-job').count())
    .toBeGreaterThanOrEqual(14);

  await reachLastJob(page, panel);
  await panel.getByRole('button', { name: 'New profile' }).click();
  await expect(panel.locator('.jp-clusterlab-formTitle')).toHaveText('New profile');
  await reachLastJob(page, panel);
});
