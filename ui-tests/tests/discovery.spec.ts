/**
 * The profile form knows the cluster (comm `cluster.info` / `cluster.estimate`, see
 * docs/discovery.md): partition, account and QOS pickers filled from the real SLURM
 * sandbox, each partition's option titled with its limits and load, a choice written
 * into the resources text, "When would it start?", and free text with the reason when
 * the cluster cannot be asked.
 */
import { expect, test } from '@jupyterlab/galata';
import { Locator } from '@playwright/test';
import { openPanel, sandbox, waitReady } from './job-helpers';

test.describe.configure({ mode: 'serial' });

async function saveProfile(panel: Locator, name: string, port: number): Promise<void> {
  const info = sandbox();
  await panel.getByRole('button', { name: 'New profile' }).click();
  await panel.locator('#clusterlab-field-scheduler').selectOption('slurm');
  const values: Record<string, string> = {
    name,
    host: info.ssh_host,
    port: String(port),
    user: info.ssh_user,
    key_file: info.ssh_key,
    known_hosts: info.known_hosts,
    python: info.remote_python
  };
  for (const [key, value] of Object.entries(values)) {
    await panel.locator(`#clusterlab-field-${key}`).fill(value);
  }
  await panel.getByRole('button', { name: 'Save' }).click();
  await expect(panel.getByRole('status').filter({ hasText: `Saved '${name}'` })).toBeVisible();
}

test('the form picks a partition the cluster offers and says when a job would start', async ({
  page
}) => {
  const panel = await openPanel(page);
  await waitReady(panel);
  const info = sandbox();
  await saveProfile(panel, 'sbpicker', info.ssh_port);
  await panel.getByRole('button', { name: 'Look up the cluster' }).click();
  const picker = panel.locator('select[name="clusterlab-picker-partition"]');
  await expect(picker).toBeVisible({ timeout: 90000 });
  const option = picker.locator(`option[value="${info.partition}"]`);
  await expect(option).toHaveAttribute(
    'title',
    new RegExp(`^${info.partition}: max .*of \\d+ nodes idle`)
  );
  await picker.selectOption(info.partition);
  await expect(panel.locator('#clusterlab-field-resources')).toHaveValue(
    new RegExp(`partition = ${info.partition}`)
  );
  await expect(picker).toHaveAttribute('title', new RegExp(`^${info.partition}: max `));
  await panel.getByRole('button', { name: 'When would it start?' }).click();
  await expect(panel.locator('.jp-clusterlab-pickersStatus')).toHaveText(/would start at/, {
    timeout: 90000
  });
});

test('a cluster that cannot be asked leaves free text and says why', async ({ page }) => {
  const panel = await openPanel(page);
  await waitReady(panel);
  await saveProfile(panel, 'sbnopicker', 1);
  await panel.getByRole('button', { name: 'Look up the cluster' }).click();
  await expect(panel.locator('.jp-clusterlab-pickersStatus')).toHaveText(
    /Type the partition and account in resources: could not ask/,
    { timeout: 90000 }
  );
  await expect(panel.locator('select[name="clusterlab-picker-partition"]')).toHaveCount(0);
});
