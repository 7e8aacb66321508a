/**
 * The Clusters panel's profiles form, kernel link and layout in a real JupyterLab
 * (issue 15: status bar, %load_ext, lazy kernel, unsaved edits, scrolling, layout,
 * shortcut). Uses only the built-in `local` profile: no SSH sandbox needed.
 */
import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';
import { Locator } from '@playwright/test';
import { notebook, openPanel, waitReady } from './job-helpers';


const BACKGROUND_PATH = '.clusterlab-panel';

interface ISessionModel {
  id: string;
  path: string;
}

async function panelSessions(page: IJupyterLabPageFixture): Promise<ISessionModel[]> {
  const response = await page.request.get('/api/sessions');
  const sessions = (await response.json()) as ISessionModel[];
  return sessions.filter(s => s.path === BACKGROUND_PATH);
}

/** Open the form of a new profile (the panel must be ready). */
async function newProfile(panel: Locator): Promise<void> {
  await panel.getByRole('button', { name: 'New profile' }).click();
  await expect(panel.locator('.jp-clusterlab-formTitle')).toHaveText('New profile');
}

test('no background kernel until the panel is shown; the keyboard shortcut opens it', async ({
  page
}) => {
  // Earlier runs on this server may have left the panel's kernel: start from none.
  for (const session of await panelSessions(page)) {
    await page.request.delete(`/api/sessions/${session.id}`);
  }
  await page.reload();
  await page.locator('.jp-SideBar [data-id="clusterlab-sidebar"]').waitFor();
  await expect(page.locator('#clusterlab-sidebar')).toBeHidden();
  // Give a page load that would start one the time to do it (it did at app.restored).
  await page.waitForTimeout(3000);
  expect(await panelSessions(page)).toEqual([]);

  await page.locator('#jp-main-dock-panel').click();
  await page.keyboard.press('Control+Shift+Y');
  const panel = page.locator('#clusterlab-sidebar');
  await expect(panel).toBeVisible();
  await waitReady(panel, /background kernel/);
  expect(await panelSessions(page)).toHaveLength(1);

  // The shortcut is listed with the command (palette / Settings Editor).
  const keys = await page.evaluate(() =>
    window.jupyterapp.commands.keyBindings
      .filter(b => b.command === 'clusterlab:open')
      .map(b => b.keys.join(' '))
  );
  expect(keys).toContain('Ctrl Shift Y');

  // A page reload with the panel shown (restored layout) connects again.
  await page.reload();
  await waitReady(page.locator('#clusterlab-sidebar'), /background kernel/);
});

test('the kernel bar is readable at the default sidebar width', async ({ page }) => {
  const panel = await openPanel(page);
  await waitReady(panel);
  const text = panel.locator('.jp-clusterlab-kernelText');
  await expect(text).toContainText('connected');
  const overflow = await text.evaluate(el => el.scrollWidth - el.clientWidth);
  expect(overflow).toBeLessThanOrEqual(0);
  const bar = await panel.locator('.jp-clusterlab-kernel').boundingBox();
  const side = await panel.boundingBox();
  expect(bar!.x + bar!.width).toBeLessThanOrEqual(side!.x + side!.width + 1);
});

test('placeholders are styled as placeholders, and the last field\'s tooltip is not clipped', async ({
  page
}) => {
  const panel = await openPanel(page);
  await waitReady(panel);
  await newProfile(panel);
  await panel.locator('#clusterlab-field-scheduler').selectOption('slurm');
  const host = panel.locator('#clusterlab-field-host');
  await expect(host).toHaveAttribute('placeholder', /.+/);
  const style = await host.evaluate(el => {
    const ph = getComputedStyle(el, '::placeholder');
    return { fontStyle: ph.fontStyle, color: ph.color, value: getComputedStyle(el).color };
  });
  expect(style.fontStyle).toBe('italic');
  expect(style.color).not.toBe(style.value);

  const fields = panel.locator('.jp-clusterlab-field');
  const last = fields.last();
  const help = last.locator('.jp-clusterlab-help');
  await help.scrollIntoViewIfNeeded();
  await help.hover();
  // The open bubble lives on the page's body (the panel would clip it): issue 25.
  const tip = page.locator(`.jp-clusterlab-bubble[data-help="${await help.getAttribute('aria-describedby')}"]`);
  await expect(tip).toBeVisible();
  const viewport = page.viewportSize()!;
  const box = await tip.boundingBox();
  expect(box!.height).toBeGreaterThan(10);
  expect(box!.y).toBeGreaterThanOrEqual(0);
  expect(box!.y + box!.height).toBeLessThanOrEqual(viewport.height);
  expect(await tip.evaluate(el => el.scrollHeight - el.clientHeight)).toBeLessThanOrEqual(1);
});

test('picking another profile with unsaved edits asks: cancel keeps, discard drops, save saves them', async ({
  page
}) => {
  const panel = await openPanel(page);
  await waitReady(panel);
  await newProfile(panel);
  await panel.locator('#clusterlab-field-name').fill('draft-one');
  await panel.locator('.jp-clusterlab-profileItem[data-profile="local"]').click();
  const dialog = page.locator('.jp-Dialog');
  await expect(dialog).toContainText('unsaved changes');
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await expect(dialog).toHaveCount(0);
  await expect(panel.locator('#clusterlab-field-name')).toHaveValue('draft-one');

  await panel.locator('.jp-clusterlab-profileItem[data-profile="local"]').click();
  await dialog.getByRole('button', { name: 'Discard' }).click();
  await expect(panel.locator('.jp-clusterlab-formTitle')).toHaveText("Profile 'local'");
  await expect(panel.locator('#clusterlab-field-name')).toHaveValue('local');

  // No edits: switching asks nothing.
  await newProfile(panel);
  await expect(dialog).toHaveCount(0);

  // Save in the dialog saves the edits, then opens the profile picked.
  await panel.locator('#clusterlab-field-name').fill('draft-two');
  await panel.locator('.jp-clusterlab-profileItem[data-profile="local"]').click();
  await dialog.getByRole('button', { name: 'Save' }).click();
  await expect(panel.locator('.jp-clusterlab-formTitle')).toHaveText("Profile 'local'");
  const saved = panel.locator('.jp-clusterlab-profileItem[data-profile="draft-two"]');
  await expect(saved).toBeVisible();
  await saved.click(); // 'local' was not edited: no question
  await expect(panel.locator('.jp-clusterlab-formTitle')).toHaveText("Profile 'draft-two'");
  await panel.getByRole('button', { name: 'Delete' }).click();
  await dialog.getByRole('button', { name: 'Delete' }).click();
  await expect(saved).toHaveCount(0);
});

test('save errors focus the first invalid field; "Saved" and test results scroll into view', async ({
  page
}) => {
  await page.setViewportSize({ width: 1280, height: 560 });
  const panel = await openPanel(page);
  await waitReady(panel);
  await newProfile(panel);
  const name = panel.locator('#clusterlab-field-name');
  await panel.getByRole('button', { name: 'Save' }).click(); // the name is empty
  await expect(name).toBeFocused();
  await expect(name).toBeInViewport();

  const profile = `scroll-${Date.now() % 100000}`;
  await name.fill(profile);
  await panel.locator('#clusterlab-profiles').evaluate(el => (el.scrollTop = 0));
  await panel.getByRole('button', { name: 'Save' }).click();
  const saved = panel.locator('.jp-clusterlab-status', { hasText: `Saved '${profile}'` });
  await expect(saved).toBeVisible();
  await expect(saved).toBeInViewport();

  await panel.locator('#clusterlab-profiles').evaluate(el => (el.scrollTop = 0));
  await panel.getByRole('button', { name: 'Test connection' }).click();
  const result = panel.locator('.jp-clusterlab-checkResult');
  await expect(result).toBeVisible({ timeout: 60000 });
  await expect(result).toBeInViewport();

  // Clean up the profile store shared with the other specs.
  await panel.getByRole('button', { name: 'Delete' }).click();
  await page.locator('.jp-Dialog').getByRole('button', { name: 'Delete' }).click();
  await expect(panel.locator(`.jp-clusterlab-profileItem[data-profile="${profile}"]`)).toHaveCount(0);
});

test('%load_ext clusterlab after the panel loaded it silently is quiet and works', async ({
  page,
  tmpPath
}) => {
  const nbPath = `${tmpPath}/loadext.ipynb`;
  await page.contents.uploadContent(
    notebook(['%load_ext clusterlab', '%%cluster local\nanswer = 6 * 7', 'print(answer)']),
    'text',
    nbPath
  );
  await page.notebook.openByPath(nbPath);
  await page.notebook.activate('loadext.ipynb');
  const panel = await openPanel(page);
  // The panel loads clusterlab silently into the notebook's kernel.
  await waitReady(panel, /loadext\.ipynb/);

  await page.notebook.runCell(0);
  const output = (await page.notebook.getCellTextOutput(0)) ?? [];
  expect(output.join('')).not.toContain('already loaded');
  await page.notebook.runCell(1);
  await page.notebook.runCell(2);
  expect(await page.notebook.getCellTextOutput(2)).toEqual(['42\n']);
});

test('the status bar says Busy while a blocking %%cluster cell runs and the panel asks', async ({
  page,
  tmpPath
}) => {
  const nbPath = `${tmpPath}/status.ipynb`;
  await page.contents.uploadContent(
    notebook(['%%cluster local\nimport time\ntime.sleep(10)\ndone = True']),
    'text',
    nbPath
  );
  await page.notebook.openByPath(nbPath);
  await page.notebook.activate('status.ipynb');
  const panel = await openPanel(page);
  await waitReady(panel, /status\.ipynb/);

  await page.notebook.selectCells(0);
  await page.keyboard.press('Control+Enter');
  const row = panel.locator('.jp-clusterlab-job').first();
  await expect(row).toHaveAttribute('data-state', 'RUNNING', { timeout: 60000 });
  // The panel asks the kernel (over its subshell) while the cell runs.
  await panel.locator('.jp-ToolbarButtonComponent[data-command="clusterlab:refresh"]').click();
  await expect(row).toHaveAttribute('data-state', 'RUNNING');
  await page.waitForTimeout(1500); // let the subshell's busy/idle messages arrive
  const status = page.locator('#jp-main-statusbar').getByText(/\| (Idle|Busy)/);
  await expect(status).toHaveText(/Busy/, { timeout: 1000 });
  await expect(page.locator('.jp-Notebook-ExecutionIndicator')).toHaveAttribute(
    'data-status',
    'busy',
    { timeout: 1000 }
  );
  // The cell ends: idle again (and the next test starts from a quiet kernel).
  await expect(page.locator('.jp-Notebook-ExecutionIndicator')).toHaveAttribute(
    'data-status',
    'idle',
    { timeout: 60000 }
  );
});

test('the ipywidgets form shows its help marks with CSS, not a font glyph', async ({
  page,
  tmpPath
}) => {
  const nbPath = `${tmpPath}/form.ipynb`;
  await page.contents.uploadContent(
    notebook(['import clusterlab as cl\ncl.config_widget()']),
    'text',
    nbPath
  );
  await page.notebook.openByPath(nbPath);
  await page.notebook.activate('form.ipynb');
  await page.notebook.runCell(0);
  const form = page.locator('.clusterlab-config').first();
  await expect(form).toBeVisible({ timeout: 60000 });
  const help = form.locator('.clusterlab-help').first();
  await expect(help).toHaveAttribute('title', /.+/);
  const mark = await help.evaluate(el => {
    const style = getComputedStyle(el);
    return {
      text: el.textContent ?? '',
      border: style.borderTopWidth,
      radius: style.borderTopLeftRadius,
      width: el.getBoundingClientRect().width
    };
  });
  expect(mark.text).not.toContain('\u24d8');
  expect(mark.text.trim()).toBe('?');
  expect(mark.border).not.toBe('0px');
  expect(mark.width).toBeGreaterThan(8);
  await help.hover();
});
