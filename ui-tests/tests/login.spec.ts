/**
 * Logging in with a one-time code from the Clusters panel (issue 23), against the
 * sandbox's REAL one-time-code sshd (a key, then a TOTP code checked by PAM's pam_oath):
 * the profile's row says "needs a login", Log in opens a dialog with the server's own
 * prompt, the typed code logs in (the row says "logged in, ... left") and is nowhere in
 * the page afterwards, and Log out ends the shared login. Codes come from
 * tests/cluster/logins.py, as a user's authenticator app would give them.
 */
import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

import {
  IMAGES,
  ISandbox,
  openNotebook,
  openPanel,
  sandbox,
  waitReady
} from './job-helpers';

const ROOT = path.join(__dirname, '..', '..');
const PROFILE = 'mfa-ui';

/** The venv's Python (scripts/ui-test.sh puts it first on PATH). */
function python(): string {
  const venv = path.join(ROOT, process.env.VENV ?? '.venv', 'bin', 'python');
  return fs.existsSync(venv) ? venv : 'python';
}

/** The next TOTP code pam_oath has not seen yet (each call a later step). */
function nextCode(baseDir: string): string {
  const code = execFileSync(
    python(),
    [path.join(ROOT, 'tests', 'cluster', 'logins.py'), 'code', baseDir],
    { encoding: 'utf-8' }
  ).trim();
  if (!/^\d{6}$/.test(code)) {
    throw new Error(`tests/cluster/logins.py gave no code: '${code}'`);
  }
  return code;
}

interface IMfaSandbox extends ISandbox {
  mfa_port: number;
  login_known_hosts: string;
  base_dir: string;
}

/** The sandbox with its one-time-code sshd (tests/cluster/sandbox.py up starts it). */
function mfaSandbox(): IMfaSandbox {
  const s = sandbox() as Partial<IMfaSandbox> & ISandbox;
  if (!s.mfa_port || !s.login_known_hosts || !s.base_dir) {
    throw new Error(
      'the sandbox has no one-time-code sshd (mfa_port): run tests/cluster/sandbox.py up'
    );
  }
  return s as IMfaSandbox;
}

/** A cell that points this kernel's logins at `loginDir` and saves the profile of the
 * one-time-code sshd, with no askpass (so the panel is asked). */
function setupCell(s: IMfaSandbox, loginDir: string, persist: number): string {
  return (
    'import os\n' +
    `os.environ["CLUSTERLAB_LOGIN_DIR"] = ${JSON.stringify(loginDir)}\n` +
    'import clusterlab as cl\n' +
    `cl.profiles.save(cl.Profile(name=${JSON.stringify(PROFILE)}, scheduler="slurm", ` +
    `host=${JSON.stringify(s.ssh_host)}, port=${s.mfa_port}, ` +
    `user=${JSON.stringify(s.ssh_user)}, key_file=${JSON.stringify(s.ssh_key)}, ` +
    `known_hosts=${JSON.stringify(s.login_known_hosts)}, ` +
    `python=${JSON.stringify(s.remote_python)}, askpass="", persist=${persist}, ` +
    'ssh_client="openssh", poll_interval=1))\n' +
    'print("saved")'
  );
}

/** End every shared login left in `loginDir` (a failed run's master would live on for
 * its persist seconds), then remove the dir. */
function endLogins(loginDir: string): void {
  try {
    execFileSync(
      python(),
      [
        '-c',
        'import pathlib, sys\n' +
          'from clusterlab.transports import sharedlogin\n' +
          'sharedlogin.end_all(pathlib.Path(sys.argv[1]))',
        loginDir
      ],
      { stdio: 'inherit', timeout: 60000 }
    );
  } finally {
    fs.rmSync(loginDir, { recursive: true, force: true });
  }
}

/** Whether any input or text area of the page holds `text` (a value is not in the HTML). */
function inputHolding(page: IJupyterLabPageFixture, text: string): Promise<boolean> {
  return page.evaluate(
    t =>
      [...document.querySelectorAll('input, textarea')].some(
        e => (e as HTMLInputElement).value.includes(t)
      ),
    text
  );
}

test('a one-time code typed in the panel dialog logs in; Log out ends it', async ({
  page,
  tmpPath
}) => {
  const s = mfaSandbox();
  // A login dir of this test only (short: it holds the master's socket), so a login
  // left by an earlier run cannot spare the prompt.
  const loginDir = fs.mkdtempSync('/tmp/cll-ui-');
  try {
    await openNotebook(page, tmpPath, 'login.ipynb', [setupCell(s, loginDir, 3600)]);
    const panel = await openPanel(page);
    await waitReady(panel, /login\.ipynb/);
    await page.notebook.runCell(0);
    expect(await page.notebook.getCellTextOutput(0)).toContain('saved\n');
    await page.evaluate(() => window.jupyterapp.commands.execute('clusterlab:refresh'));

    const row = panel.locator(`.jp-clusterlab-login[data-profile="${PROFILE}"]`);
    const state = row.locator('.jp-clusterlab-loginState');
    await expect(state).toHaveText('needs a login');
    await expect(row).toHaveAttribute('data-login-state', 'needs a login');
    await expect(row.getByRole('button', { name: 'Log out' })).toHaveCount(0);

    // The form has the login fields, each with its tooltip.
    await panel.locator(`.jp-clusterlab-profileItem[data-profile="${PROFILE}"]`).click();
    const askpass = panel.locator('#clusterlab-field-askpass');
    await expect(askpass).toHaveAttribute('title', /answers the login server's prompts/);
    await expect(askpass).toHaveValue('');
    const persist = panel.locator('#clusterlab-field-persist');
    await expect(persist).toHaveAttribute('title', /shared by every notebook/);
    await expect(persist).toHaveValue('3600');
    const client = panel.locator('#clusterlab-field-ssh_client');
    await expect(client).toHaveAttribute('title', /'openssh': the ssh command/);
    await expect(client).toHaveValue('openssh');
    await expect(client.locator('option')).toHaveText(['auto', 'openssh', 'paramiko']);

    const logIn = row.getByRole('button', { name: `Log in to '${PROFILE}'` });
    await expect(logIn).toHaveText('Log in');
    await expect(logIn).toHaveAttribute('title', /Log in to 'mfa-ui' now/);
    await logIn.click();

    // The server's own prompt, the profile and the host, the input hidden.
    const dialog = page.locator('.jp-Dialog');
    await expect(dialog).toContainText('One-time password', { timeout: 60000 });
    await expect(dialog.locator('.jp-Dialog-header')).toHaveText(
      `Log in to ${PROFILE} (${s.ssh_user}@${s.ssh_host}:${s.mfa_port})`
    );
    const answer = dialog.locator('input.jp-clusterlab-loginAnswer');
    await expect(answer).toHaveAttribute('type', 'password');
    await expect(answer).toBeFocused();
    // (JupyterLab puts a dialog button's tooltip on its label)
    await expect(
      dialog.getByRole('button', { name: 'Log in' }).locator('.jp-Dialog-buttonLabel')
    ).toHaveAttribute('title', /Send the answer/);
    await expect(
      dialog.getByRole('button', { name: 'Cancel' }).locator('.jp-Dialog-buttonLabel')
    ).toHaveAttribute('title', /Do not answer/);
    await dialog
      .locator('.jp-Dialog-content')
      .screenshot({ path: path.join(IMAGES, 'login-dialog.png') });

    const code = nextCode(s.base_dir);
    await answer.fill(code);
    expect(await inputHolding(page, code)).toBe(true); // (what the check below looks for)
    await answer.press('Enter'); // Log in is the default button

    await expect(dialog).toHaveCount(0);
    await expect(state).toHaveText(/^logged in, (\d+ h )?\d+ min left$/, { timeout: 60000 });
    await expect(row).toHaveAttribute('data-login-state', 'logged in');
    expect(await page.content()).not.toContain(code);
    expect(await inputHolding(page, code)).toBe(false);
    await row
      .locator('xpath=..') // the profile's list item: its name and its login
      .screenshot({ path: path.join(IMAGES, 'login-state.png') });

    const logOut = row.getByRole('button', { name: `Log out of '${PROFILE}'` });
    await expect(logOut).toHaveText('Log out');
    await expect(logOut).toHaveAttribute('title', /End the shared login/);
    await logOut.click();
    await expect(state).toHaveText('needs a login', { timeout: 30000 });
    await expect(row.getByRole('button', { name: `Log in to '${PROFILE}'` })).toBeVisible();
    expect(await page.content()).not.toContain(code);
  } finally {
    endLogins(loginDir);
  }
});

test('a job submitted from a cell asks for the code in the panel and runs', async ({
  page,
  tmpPath
}) => {
  const s = mfaSandbox();
  const loginDir = fs.mkdtempSync('/tmp/cll-ui-');
  try {
    await openNotebook(page, tmpPath, 'login-job.ipynb', [
      setupCell(s, loginDir, 600),
      `print('value', cl.cluster(${JSON.stringify(PROFILE)})(abs)(-4))`
    ]);
    const panel = await openPanel(page);
    await waitReady(panel, /login-job\.ipynb/);
    await page.notebook.runCell(0);
    expect(await page.notebook.getCellTextOutput(0)).toContain('saved\n');

    // The cell blocks on the login; the panel (over its subshell) gets the prompt.
    const running = page.notebook.runCell(1);
    const dialog = page.locator('.jp-Dialog');
    await expect(dialog).toContainText('One-time password', { timeout: 60000 });
    const code = nextCode(s.base_dir);
    await dialog.locator('input.jp-clusterlab-loginAnswer').fill(code);
    await dialog.getByRole('button', { name: 'Log in' }).click();
    await expect(dialog).toHaveCount(0);
    await running;
    expect(await page.notebook.getCellTextOutput(1)).toContain('value 4\n');
    expect(await page.content()).not.toContain(code);
    expect(await inputHolding(page, code)).toBe(false);

    await page.evaluate(() => window.jupyterapp.commands.execute('clusterlab:refresh'));
    const row = panel.locator(`.jp-clusterlab-login[data-profile="${PROFILE}"]`);
    await expect(row.locator('.jp-clusterlab-loginState')).toHaveText(/^logged in, /);
    await row.getByRole('button', { name: `Log out of '${PROFILE}'` }).click();
    await expect(row.locator('.jp-clusterlab-loginState')).toHaveText('needs a login');
  } finally {
    endLogins(loginDir);
  }
});
