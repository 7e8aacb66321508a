/**
 * Environment builds in the Clusters panel (issue 13): a synced environment builds before
 * its job exists, and the panel says so from the kernel's `env.event` pushes. A real
 * build on the local profile (cloudpickle alone, wheels from this machine).
 */
import { expect, test } from '@jupyterlab/galata';
import { notebook } from './job-helpers';

const SETUP = `import os, sys, tempfile
import clusterlab as cl
from clusterlab.core.environment import sync as envsync

def small_lock():
    lock = envsync.Lock(python='%d.%d' % sys.version_info[:2])
    lock.pins['cloudpickle'] = ('cloudpickle', __import__('cloudpickle').__version__)
    return lock

envsync.make_lock = small_lock
os.environ['PIP_NO_INDEX'] = '1'
cl.profiles.save(cl.Profile(name='uisync', scheduler='local', environment='sync',
                            remote_dir=tempfile.mkdtemp(prefix='cl-ui-envbuild-')))`;

test('an environment build shows in the panel while the job is not there yet', async ({
  page,
  tmpPath
}) => {
  const nbPath = `${tmpPath}/envbuild.ipynb`;
  await page.contents.uploadContent(
    notebook([SETUP, "print(cl.cluster('uisync')(abs)(-5))"]),
    'text',
    nbPath
  );
  await page.notebook.openByPath(nbPath);
  await page.notebook.activate('envbuild.ipynb');
  const tab = page.locator('.jp-SideBar [data-id="clusterlab-sidebar"]');
  await tab.waitFor();
  const panel = page.locator('#clusterlab-sidebar');
  if (!(await panel.isVisible())) {
    await tab.click();
  }
  const bar = panel.locator('.jp-clusterlab-kernel');
  await expect(bar).toHaveAttribute('data-status', 'ready', { timeout: 90000 });
  await expect(bar).toContainText(/envbuild\.ipynb/, { timeout: 90000 });
  await page.notebook.runCell(0);
  await page.notebook.runCell(1);
  expect(await page.notebook.getCellTextOutput(1)).toContain('5\n'); // (and the build log)
  // the build's last step stays on show for a few seconds after it is ready
  const line = panel.locator('.jp-clusterlab-envBuild');
  await expect(line).toContainText(/Environment [0-9a-f]{16} for uisync is ready/);
  await expect(line.locator('progress')).toHaveAttribute('value', '5');
});
