/**
 * The Clusters sidebar in a real JupyterLab, against the real SLURM + sshd sandbox
 * (scripts/ui-test.sh starts it and sets CLUSTERLAB_SANDBOX_JSON and SLURM_CONF).
 * Tests run in order in one worker and share the profile store of the server.
 */
import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';
import { Locator } from '@playwright/test';
import * as path from 'path';
import { IMAGES, notebook, openPanel, sandbox, waitReady, widenSidebar } from './job-helpers';

test.describe.configure({ mode: 'serial' });

const PROFILE = 'sbssh';

async function field(panel: Locator, name: string): Promise<Locator> {
  return panel.locator(`#clusterlab-field-${name}`);
}

async function fill(panel: Locator, name: string, value: string): Promise<void> {
  const input = await field(panel, name);
  await input.fill(value);
}

/** Fill the form for a SLURM-over-SSH profile reaching the sandbox, and save it. */
async function createSshProfile(panel: Locator): Promise<void> {
  const info = sandbox();
  await panel.getByRole('button', { name: 'New profile' }).click();
  await (await field(panel, 'scheduler')).selectOption('slurm');
  await fill(panel, 'name', PROFILE);
  await fill(panel, 'host', info.ssh_host);
  await fill(panel, 'port', String(info.ssh_port));
  await fill(panel, 'user', info.ssh_user);
  await fill(panel, 'key_file', info.ssh_key);
  await fill(panel, 'known_hosts', info.known_hosts);
  await fill(panel, 'python', info.remote_python);
  await fill(panel, 'poll_interval', '1');
  await panel.getByRole('button', { name: 'Save' }).click();
  await expect(panel.getByRole('status').filter({ hasText: `Saved '${PROFILE}'` })).toBeVisible();
  await expect(panel.locator(`.jp-clusterlab-profileItem[data-profile="${PROFILE}"]`)).toBeVisible();
}

/** Tests that run jobs need the profile; create it when run on their own (-g). */
async function ensureProfile(panel: Locator): Promise<void> {
  const item = panel.locator(`.jp-clusterlab-profileItem[data-profile="${PROFILE}"]`);
  await expect(panel.locator('.jp-clusterlab-profileItem').first()).toBeVisible();
  if ((await item.count()) === 0) {
    await createSshProfile(panel);
  }
}

/** Run a cell without waiting for it (a %%cluster cell blocks until its job ends). */
async function startCell(page: IJupyterLabPageFixture, index: number): Promise<void> {
  await page.notebook.selectCells(index);
  await page.keyboard.press('Control+Enter');
}

test('the sidebar opens on a background kernel and lists the built-in profile', async ({
  page
}) => {
  const panel = await openPanel(page);
  await waitReady(panel, /background kernel/);
  const items = panel.locator('.jp-clusterlab-profileItem');
  await expect(items.first()).toHaveAttribute('data-profile', 'local');
  // the jobs view is there (empty, or listing what earlier specs of the run left)
  await expect(panel.getByPlaceholder('Search name or id')).toBeVisible();
});

test('every field has a tooltip (title and accessible description); fields follow the scheduler', async ({
  page
}) => {
  const panel = await openPanel(page);
  await waitReady(panel);
  await panel.getByRole('button', { name: 'New profile' }).click();
  const name = await field(panel, 'name');
  await expect(name).toHaveAttribute('title', /A short name you pick.*Example: hpc/);
  await expect(name).toHaveAccessibleDescription(/A short name you pick/);
  // Hovering the help icon shows the text.
  const help = panel.locator('[data-field="name"] .jp-clusterlab-help');
  await help.hover();
  await expect(help.locator('.jp-clusterlab-tip')).toBeVisible();
  await expect(help.locator('.jp-clusterlab-tip')).toContainText('%%cluster NAME');
  // Keyboard users reach the same text: the help icon takes focus and shows it.
  await page.mouse.move(0, 0);
  const hostHelp = panel.locator('[data-field="scheduler"] .jp-clusterlab-help');
  await hostHelp.focus();
  await expect(hostHelp.locator('.jp-clusterlab-tip')).toBeVisible();
  await expect(hostHelp).toHaveAttribute('aria-label', 'Help: Scheduler');
  // Every shown field carries its tooltip.
  for (const input of await panel.locator('.jp-clusterlab-form [id^="clusterlab-field-"]').all()) {
    const id = await input.getAttribute('id');
    if (id?.endsWith('-help') || id?.endsWith('-error')) {
      continue;
    }
    expect(await input.getAttribute('title'), `${id} has a tooltip`).toBeTruthy();
  }
  // Kind-specific fields: SSH fields only for slurm, "Jobs at once" only for local.
  await expect(panel.locator('[data-field="host"]')).toHaveCount(0);
  await expect(panel.locator('[data-field="max_concurrent"]')).toHaveCount(1);
  await (await field(panel, 'scheduler')).selectOption('slurm');
  await expect(panel.locator('[data-field="host"]')).toHaveCount(1);
  await expect(panel.locator('[data-field="max_concurrent"]')).toHaveCount(0);
  const host = await field(panel, 'host');
  await expect(host).toHaveAccessibleDescription(/login node/);
});

test('invalid input shows the field error and saves nothing', async ({ page }) => {
  const panel = await openPanel(page);
  await waitReady(panel);
  await panel.getByRole('button', { name: 'New profile' }).click();
  await (await field(panel, 'scheduler')).selectOption('slurm');
  await fill(panel, 'name', 'bad name!');
  await fill(panel, 'port', '70000');
  // Validation as you type (debounced profiles.validate).
  await expect(panel.locator('#clusterlab-field-port-error')).toContainText('1 to 65535');
  await expect(panel.locator('#clusterlab-field-name-error')).toContainText('letters, digits');
  await expect(await field(panel, 'port')).toHaveAttribute('aria-invalid', 'true');
  await panel.getByRole('button', { name: 'Save' }).click();
  const notSaved = panel.getByRole('status').filter({ hasText: 'Not saved' });
  await expect(notSaved).toBeVisible();
  // said in the error colour (it was the success green): the same colour as a field error
  const [errorColor, successColor] = await page.evaluate(() =>
    ['--jp-error-color1', '--jp-success-color1'].map(v => {
      const probe = document.createElement('div');
      probe.style.color = `var(${v})`;
      document.body.appendChild(probe);
      const color = getComputedStyle(probe).color;
      probe.remove();
      return color;
    })
  );
  const statusColor = await notSaved.evaluate(el => getComputedStyle(el).color);
  expect(statusColor).toBe(errorColor);
  expect(statusColor).not.toBe(successColor);
  await expect(panel.locator('#clusterlab-field-port-error')).toContainText('1 to 65535');
  // Nothing was stored: the list (re-read from the kernel) has no such profile (other
  // specs of the run may have left profiles of their own: only this one is looked for).
  await page.evaluate(() => window.jupyterapp.commands.execute('clusterlab:refresh'));
  await expect(panel.locator('.jp-clusterlab-profileItem').first()).toHaveAttribute(
    'data-profile',
    'local'
  );
  await expect(panel.locator('.jp-clusterlab-profileItem[data-profile="bad name!"]')).toHaveCount(0);
});

test('a SLURM-over-SSH profile for the sandbox saves and tests all green', async ({
  page
}) => {
  const panel = await openPanel(page);
  await waitReady(panel);
  await createSshProfile(panel);

  await panel.getByRole('button', { name: 'Test connection' }).click();
  const result = panel.locator('.jp-clusterlab-checkResult');
  await expect(result).toBeVisible({ timeout: 90000 });
  await expect(result).toHaveClass(/jp-mod-ok/);
  const lines = panel.locator('.jp-clusterlab-checkLine');
  expect(await lines.count()).toBeGreaterThanOrEqual(4);
  await expect(panel.locator('.jp-clusterlab-checkLine.jp-mod-fail')).toHaveCount(0);
  await expect(lines.first()).toHaveCSS('color', /.*/);
  const mark = panel.locator('.jp-clusterlab-checkLine.jp-mod-ok .jp-clusterlab-checkMark').first();
  const color = await mark.evaluate(el => getComputedStyle(el).color);
  expect(color).toMatch(/rgb\(\s*\d+,\s*1\d\d|rgb\(\s*\d+,\s*2\d\d/); // a green channel dominates
});

test('%%cluster cell: the job goes PENDING/RUNNING -> COMPLETED in the panel and the variable arrives', async ({
  page,
  tmpPath
}) => {
  const nbPath = `${tmpPath}/run.ipynb`;
  await page.contents.uploadContent(
    notebook([
      'import clusterlab as cl\nprint(sorted(cl.profiles.list()))',
      '',
      'print("answer is", answer)'
    ]),
    'text',
    nbPath
  );
  await page.notebook.openByPath(nbPath);
  await page.notebook.activate('run.ipynb');
  const panel = await openPanel(page);
  // The panel switches to the notebook's kernel and loads clusterlab into it silently.
  await waitReady(panel, /run\.ipynb/);
  await ensureProfile(panel);

  // Profiles saved in the panel are visible to cl.profiles in the kernel.
  await page.notebook.runCell(0);
  expect(await page.notebook.getCellTextOutput(0)).toEqual([
    expect.stringContaining(`'${PROFILE}'`)
  ]);

  // The command inserts a %%cluster cell for a profile.
  await page.notebook.selectCells(0);
  await page.evaluate(
    profile => window.jupyterapp.commands.execute('clusterlab:insert-cell', { profile }),
    PROFILE
  );
  expect(await page.notebook.getCellCount()).toBe(4);
  const inserted = await page.evaluate(() => {
    const nb = (window.jupyterapp.shell.currentWidget as any).content;
    return nb.activeCell.model.sharedModel.getSource();
  });
  expect(inserted).toBe(`%%cluster ${PROFILE}\n`);
  await page.evaluate(() => {
    const nb = (window.jupyterapp.shell.currentWidget as any).content;
    nb.activeCell.model.sharedModel.setSource(
      '%%cluster sbssh\nimport time\ntime.sleep(4)\nanswer = 6 * 7'
    );
  });

  await startCell(page, 1);
  const row = panel.locator('.jp-clusterlab-job').first();
  await expect(row).toHaveAttribute('data-state', /PENDING|RUNNING/, { timeout: 30000 });
  await expect(row.locator('.jp-clusterlab-state')).toHaveText(/PENDING|RUNNING/);
  await expect(row).toHaveAttribute('data-state', 'COMPLETED', { timeout: 90000 });
  await expect(row).toContainText(PROFILE);
  await expect(row.locator('.jp-clusterlab-jobName')).toHaveText('cell'); // ledger row read
  await expect(row.locator('.jp-clusterlab-elapsed')).toHaveText(/\d+s/);

  // The variable came back into the notebook.
  await page.notebook.runCell(3);
  expect(await page.notebook.getCellTextOutput(3)).toEqual(['answer is 42\n']);

  // The log of the finished job is one click away.
  await row.getByRole('button', { name: /Show log/ }).click();
  await expect(row.locator('.jp-clusterlab-logText')).toBeVisible();
});

test('cancel a long job from the panel', async ({ page, tmpPath }) => {
  const nbPath = `${tmpPath}/long.ipynb`;
  await page.contents.uploadContent(
    notebook([`%%cluster ${PROFILE} --async\nimport time\ntime.sleep(600)`]),
    'text',
    nbPath
  );
  await page.notebook.openByPath(nbPath);
  await page.notebook.activate('long.ipynb');
  const panel = await openPanel(page);
  await waitReady(panel, /long\.ipynb/);
  await ensureProfile(panel);
  await page.notebook.runCell(0);
  const row = panel.locator('.jp-clusterlab-job').first();
  await expect(row).toHaveAttribute('data-state', 'RUNNING', { timeout: 60000 });
  await row.getByRole('button', { name: /^Cancel: / }).click();
  // a running job: the panel asks first (jobs.spec.ts tests the dialog)
  await page.locator('.jp-Dialog').getByRole('button', { name: 'Cancel job' }).click();
  await expect(row).toHaveAttribute('data-state', 'CANCELLED', { timeout: 60000 });
  await expect(row.locator('.jp-clusterlab-state')).toHaveText('CANCELLED');
});

test('the panel is answered while a blocking %%cluster cell runs', async ({ page, tmpPath }) => {
  // comm.py sends in the context of the panel's last request, so ipykernel 7 keeps the
  // panel's requests on its subshell instead of queueing them behind the running cell.
  const nbPath = `${tmpPath}/blocking.ipynb`;
  await page.contents.uploadContent(
    notebook([`%%cluster ${PROFILE}\nimport time\ntime.sleep(45)`]),
    'text',
    nbPath
  );
  await page.notebook.openByPath(nbPath);
  await page.notebook.activate('blocking.ipynb');
  const panel = await openPanel(page);
  await waitReady(panel, /blocking\.ipynb/);
  await ensureProfile(panel);
  await startCell(page, 0);
  const row = panel.locator('.jp-clusterlab-job').first();
  await expect(row).toHaveAttribute('data-state', 'RUNNING', { timeout: 60000 });
  await row.getByRole('button', { name: /^Cancel: / }).click();
  // a running job: the panel asks first (jobs.spec.ts tests the dialog)
  await page.locator('.jp-Dialog').getByRole('button', { name: 'Cancel job' }).click();
  await expect(row).toHaveAttribute('data-state', 'CANCELLED', { timeout: 15000 });
});

test('duplicate and delete a profile', async ({ page }) => {
  const panel = await openPanel(page);
  await waitReady(panel);
  await ensureProfile(panel);
  await panel.locator(`.jp-clusterlab-profileItem[data-profile="${PROFILE}"]`).click();
  await panel.getByRole('button', { name: 'Duplicate' }).click();
  await expect(await field(panel, 'name')).toHaveValue(`${PROFILE}-copy`);
  await expect(await field(panel, 'host')).toHaveValue(sandbox().ssh_host);
  await panel.getByRole('button', { name: 'Save' }).click();
  const copy = panel.locator(`.jp-clusterlab-profileItem[data-profile="${PROFILE}-copy"]`);
  await expect(copy).toBeVisible();
  await panel.getByRole('button', { name: 'Delete' }).click();
  await page.locator('.jp-Dialog').getByRole('button', { name: 'Delete' }).click();
  await expect(copy).toHaveCount(0);
  await expect(
    panel.locator(`.jp-clusterlab-profileItem[data-profile="${PROFILE}"]`)
  ).toBeVisible();
});

test.describe('kernel restart', () => {
  // Galata's kernel-API mock answers every POST with 201, which JupyterLab's restart
  // call rejects (it expects 200): talk to the real server API in this test.
  test.use({ kernels: null });

  test('array progress, the notebook toolbar button, and recovery after a kernel restart', async ({
    page,
    tmpPath
  }) => {
    const nbPath = `${tmpPath}/array.ipynb`;
    await page.contents.uploadContent(
      notebook([
        "import clusterlab as cl\narr = cl.cluster('local')(abs).map(range(-5, 0))\nprint(arr.results(timeout=120))"
      ]),
      'text',
      nbPath
    );
    await page.notebook.openByPath(nbPath);
    await page.notebook.activate('array.ipynb');
    await expect(
      page.locator('.jp-NotebookPanel-toolbar [data-command="clusterlab:insert-cell"]')
    ).toBeVisible();
    const panel = await openPanel(page);
    await waitReady(panel, /array\.ipynb/);
    await page.notebook.runCell(0);
    expect((await page.notebook.getCellTextOutput(0))?.join('')).toContain('[5, 4, 3, 2, 1]');
    const row = panel
      .locator('.jp-clusterlab-job')
      .filter({ has: page.locator('.jp-clusterlab-progress') })
      .first();
    await expect(row.locator('.jp-clusterlab-progressText')).toHaveText(
      '5/5 done (5 completed)'
    );
    // "Insert result" on an array row inserts results() (result() raised AttributeError)
    await row.getByRole('button', { name: /^Insert result: / }).click();
    const inserted = await page.evaluate(() => {
      const nb = (window.jupyterapp.shell.currentWidget as any).content;
      const sources: string[] = nb.widgets.map((w: any) => w.model.sharedModel.getSource());
      const index = sources.findIndex(text => text.includes('cl.job('));
      nb.model.sharedModel.deleteCell(index); // the rest of the test expects one cell
      return sources[index] ?? '';
    });
    expect(inserted).toMatch(/cl\.job\("[^"]+"\)\.results\(\)$/);

    // Restart the notebook's kernel: the panel reconnects (loading clusterlab again).
    const restarted = page.evaluate(() =>
      window.jupyterapp.commands.execute('notebook:restart-kernel')
    );
    await page.locator('.jp-Dialog .jp-mod-accept').click();
    await restarted; // the panel saw 'restarting' before this resolves
    await waitReady(panel, /array\.ipynb/);
    // The panel loaded clusterlab into the new kernel: the magic works without %load_ext.
    await page.notebook.setCell(0, 'code', "%%cluster local\nprint('magic is back')");
    await page.notebook.runCell(0);
    expect((await page.notebook.getCellTextOutput(0))?.join('')).toContain('magic is back');
    await page.evaluate(() => window.jupyterapp.commands.execute('clusterlab:refresh'));
    await expect(row.locator('.jp-clusterlab-progressText')).toHaveText(
      '5/5 done (5 completed)'
    );
    await expect(panel.locator('.jp-clusterlab-kernel')).toHaveAttribute('data-status', 'ready');

    // Open job monitor inserts (and runs) the monitor cell.
    await page.notebook.selectCells(0);
    await page.evaluate(() => window.jupyterapp.commands.execute('clusterlab:open-monitor'));
    // (runCell left an empty cell at the end: the monitor cell goes below cell 0)
    expect(await page.notebook.getCellCount()).toBe(3);
    const source = await page.evaluate(() => {
      const nb = (window.jupyterapp.shell.currentWidget as any).content;
      return nb.widgets[1].model.sharedModel.getSource();
    });
    expect(source).toBe('import clusterlab as cl; cl.monitor()');
  });
});

test('ipywidgets profile form and job monitor render, with tooltips in the DOM', async ({
  page,
  tmpPath
}) => {
  await page.setViewportSize({ width: 1500, height: 1100 });
  const nbPath = `${tmpPath}/widgets.ipynb`;
  await page.contents.uploadContent(
    notebook([
      'import clusterlab as cl\nfor i in range(3):\n    cl.cluster("local")(abs).submit(-i).result(timeout=60)\narr = cl.cluster("local")(abs).map(range(-8, 0))\narr.wait(60)',
      'cl.profiles.save(cl.Profile(name="hpc-demo", scheduler="slurm", host="login.example.edu", user="jdoe", key_file="~/.ssh/id_ed25519", setup=["module load python/3.11"], resources={"cores": 4, "memory": "8GB", "time": "1:00:00"}))\ncl.config_widget("hpc-demo")',
      'cl.monitor()'
    ]),
    'text',
    nbPath
  );
  await page.notebook.openByPath(nbPath);
  await page.notebook.activate('widgets.ipynb');
  await page.notebook.run();
  const form = page.locator('.clusterlab-config').first();
  await expect(form).toBeVisible({ timeout: 60000 });
  // ipywidgets drops tooltip= when a description is set: our label carries the help text.
  const help = form.locator('.clusterlab-help').first();
  await expect(help).toHaveAttribute('title', /A short name you pick/);
  await expect(form.locator('.clusterlab-input-host input')).toHaveValue('login.example.edu');
  await help.hover();
  const monitor = page.locator('.clusterlab-monitor').first();
  // The ledger is shared with the earlier tests of the suite: at least this notebook's 4.
  await expect
    .poll(() => monitor.locator('.clusterlab-row').count(), { timeout: 30000 })
    .toBeGreaterThanOrEqual(4);
  await expect(monitor).toContainText('8/8');
  await form.screenshot({ path: path.join(IMAGES, 'widget-form.png') });
  await monitor.screenshot({ path: path.join(IMAGES, 'widget-monitor.png') });
});

test('screenshots of the panel in the light and dark themes', async ({ page }) => {
  await page.setViewportSize({ width: 1100, height: 1000 });
  const panel = await openPanel(page);
  await waitReady(panel);
  await ensureProfile(panel);
  await widenSidebar(page);
  await panel.locator(`.jp-clusterlab-profileItem[data-profile="${PROFILE}"]`).click();
  await panel.getByRole('button', { name: 'Test connection' }).click();
  const result = panel.locator('.jp-clusterlab-checkResult');
  await expect(result).toBeVisible({ timeout: 90000 });
  const shoot = async (name: string) => {
    await panel.locator('[data-field="scheduler"]').scrollIntoViewIfNeeded();
    await panel.locator('[data-field="name"] .jp-clusterlab-help').hover();
    await panel.screenshot({ path: path.join(IMAGES, `panel-${name}.png`) });
    await result.scrollIntoViewIfNeeded();
    await page.mouse.move(600, 500);
    await panel.screenshot({ path: path.join(IMAGES, `check-${name}.png`) });
  };
  await shoot('light');
  await page.theme.setDarkTheme();
  await shoot('dark');
  await page.theme.setLightTheme();
});

