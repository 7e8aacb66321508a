import { describe, expect, it } from 'vitest';

import { chosenResources, startNotebook } from '../src/notebook-start';
import { RequestError } from '../src/requests';

const KERNEL = {
  name: 'clusterlab-hpc',
  display_name: 'Python on hpc (SLURM, 4 cores, 2 h)',
  profile: 'hpc',
  resources: { cores: 4, time: '02:00:00' },
  path: '/k'
};

describe('chosenResources', () => {
  it('leaves out blank fields so the profile defaults apply', () => {
    expect(chosenResources({ cores: ' 4 ', memory: '', time: '  ' })).toEqual({
      cores: '4'
    });
  });
});

describe('startNotebook', () => {
  it('installs, then opens a notebook with the kernel it names', async () => {
    const sent: unknown[] = [];
    const opened: string[] = [];
    const outcome = await startNotebook(
      async (type, data) => {
        sent.push([type, data]);
        return { kernel: KERNEL, reused: false };
      },
      async name => {
        opened.push(name);
      },
      'hpc',
      { cores: '4', memory: '', time: '2:00:00' }
    );
    expect(sent).toEqual([
      [
        'kernels.install',
        { profile: 'hpc', resources: { cores: '4', time: '2:00:00' } }
      ]
    ]);
    expect(opened).toEqual(['clusterlab-hpc']);
    expect(outcome.ok).toBe(true);
    expect(outcome.status).toContain('Python on hpc (SLURM, 4 cores, 2 h)');
    expect(outcome.status).toContain('installed');
  });

  it("shows Python's messages under their fields and opens nothing", async () => {
    const opened: string[] = [];
    const outcome = await startNotebook(
      async () => {
        throw new RequestError('cores: bad', {
          cores: "cores='four': must be a whole number, e.g. cores=4"
        });
      },
      async name => {
        opened.push(name);
      },
      'hpc',
      { cores: 'four' }
    );
    expect(opened).toEqual([]);
    expect(outcome.ok).toBe(false);
    expect(outcome.errors.cores).toContain('must be a whole number');
    expect(outcome.status).toBe('Fix the marked values, then press Start again.');
  });

  it('says why when the kernel cannot be made or the notebook not opened', async () => {
    const refused = await startNotebook(
      async () => {
        throw new RequestError("no profile named 'ghost'");
      },
      async () => undefined,
      'ghost',
      {}
    );
    expect(refused.status).toBe(
      "Could not make the kernel of 'ghost': no profile named 'ghost'"
    );
    const unopened = await startNotebook(
      async () => ({ kernel: KERNEL, reused: true }),
      async () => {
        throw new Error('no such kernel');
      },
      'hpc',
      {}
    );
    expect(unopened.ok).toBe(false);
    expect(unopened.kernel).toBe('clusterlab-hpc');
    expect(unopened.status).toContain('no notebook opened: no such kernel');
  });
});
