/**
 * The log view of a running job follows its output (issue 30 item 5): the kernel pushes
 * each new line (`job.output`) instead of the view asking `job.logs` again every 2 s. A
 * real SLURM job over the loopback sshd prints a line, then waits until this test saw it
 * in the view (it creates `go.N`), so the check is causal: each new line must reach the
 * view while no `job.logs` request is sent. Records line-to-view latency from the job's
 * own timestamps (same machine clock).
 */
import { expect, test } from '@jupyterlab/galata';
import * as fs from 'fs';
import * as path from 'path';

import {
  openNotebook,
  openPanel,
  printedIds,
  recordTiming,
  row,
  sshProfileCode,
  waitReady
} from './job-helpers';

const LINES = 4;

test('a running job’s new lines appear in its log view, pushed, without job.logs reloads', async ({
  page,
  tmpPath
}) => {
  // Fails on the view that polled (before job.follow): its reload sent job.logs for
  // every later line, and it showed "refreshing while the job runs", not "following".
  // Under /tmp itself: ui-test.sh's TMPDIR lies in a 0700 dir the job's user cannot enter.
  const shared = fs.mkdtempSync('/tmp/clusterlab-logfollow-');
  fs.chmodSync(shared, 0o755); // the job runs as the sandbox's SSH user: it looks for files
  const sent: string[] = [];
  let outputs = 0;
  page.on('websocket', ws => {
    ws.on('framesent', frame => sent.push(frame.payload.toString()));
    ws.on('framereceived', frame => {
      if (frame.payload.toString().includes('"job.output"')) {
        outputs += 1;
      }
    });
  });
  const logsRequests = () => sent.filter(p => p.includes('"job.logs"')).length;

  await openNotebook(page, tmpPath, 'follow.ipynb', [
    [
      sshProfileCode('follow-ssh'),
      'def lockstep(shared, n):',
      '    import os, time',
      '    for i in range(n):',
      '        print(f"line {i} at {time.time():.3f}", flush=True)',
      '        for _ in range(2400):  # until the test saw it (at most 2 minutes)',
      '            if os.path.exists(f"{shared}/go.{i}"):',
      '                break',
      '            time.sleep(0.05)',
      '    return n',
      `job = cl.cluster('follow-ssh')(lockstep).submit(${JSON.stringify(shared)}, ${LINES})`,
      "print('ids:', job.id)"
    ].join('\n')
  ]);
  const panel = await openPanel(page);
  await waitReady(panel, /follow\.ipynb/);
  await page.notebook.runCell(0);
  const [jobId] = await printedIds(page, 0);
  const job = row(panel, jobId);
  await job.getByRole('button', { name: new RegExp(`^Show log: .* ${jobId}$`) }).click();
  const log = job.getByLabel(`stdout of job ${jobId}`, { exact: true });

  // When each line first shows in the view, by the page's clock.
  await page.evaluate(() => {
    const shown: Record<string, number> = ((window as any).__clusterlabLines = {});
    const root = document.getElementById('clusterlab-sidebar')!;
    const record = () => {
      const now = Date.now() / 1000;
      root.querySelectorAll('.jp-clusterlab-logText').forEach(pre => {
        for (const m of (pre.textContent ?? '').matchAll(/line (\d+) at ([\d.]+)/g)) {
          shown[m[1]] ??= now - Number(m[2]);
        }
      });
    };
    new MutationObserver(record).observe(root, { subtree: true, childList: true, characterData: true });
  });

  await expect(log).toContainText('line 0', { timeout: 90000 });
  await expect(job.locator('.jp-clusterlab-logLive')).toHaveAttribute('data-live', 'following');
  await expect(job.locator('.jp-clusterlab-logLive')).toHaveText('following the output');
  const before = logsRequests();
  for (let i = 0; i + 1 < LINES; i++) {
    fs.writeFileSync(path.join(shared, `go.${i}`), '');
    await expect(log).toContainText(`line ${i + 1}`);
  }
  const whileFollowing = logsRequests() - before;
  expect(whileFollowing, 'job.logs requests while the job ran').toBe(0);
  expect(outputs).toBeGreaterThanOrEqual(LINES - 1);
  const lines = (await log.textContent()) ?? '';
  expect(lines.match(/line \d+ at/g)).toEqual([...Array(LINES).keys()].map(i => `line ${i} at`));

  const latency: Record<string, number> = await page.evaluate(
    () => (window as any).__clusterlabLines
  );
  fs.writeFileSync(path.join(shared, `go.${LINES - 1}`), '');
  await expect(job).toHaveAttribute('data-state', 'COMPLETED', { timeout: 60000 });
  await expect(job.locator('.jp-clusterlab-logLive')).toHaveCount(0);
  recordTiming('log-follow', {
    what: 'seconds from the job printing a line to the line in the log view (lines 1..)',
    latency_s: Object.fromEntries(Object.entries(latency).filter(([k]) => k !== '0')),
    job_logs_requests_while_following: whileFollowing,
    job_output_messages: outputs
  });
  fs.rmSync(shared, { recursive: true, force: true });
});
