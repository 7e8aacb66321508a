import { describe, expect, it } from 'vitest';

import {
  endedMessage,
  formatBytes,
  filterJobs,
  itemIndices,
  mergeEvents,
  newlyEnded,
  rankChoices
} from '../src/jobs';
import { IJob } from '../src/protocol';
import { job as pending } from './fixtures';

/** A running job (the rows these tests start from). */
function job(id: string, extra: Partial<IJob> = {}): IJob {
  return pending(id, { state: 'RUNNING', reason: '', started: 100, ...extra });
}

describe('a new row from an event', () => {
  it('shows the real name and submit time at once (it said "job")', () => {
    const out = mergeEvents(
      [],
      [
        {
          id: 'x',
          profile: 'hpc',
          kind: 'job',
          state: 'PENDING',
          reason: '',
          name: 'cell',
          submitted: 90
        }
      ],
      100
    );
    expect(out[0]).toMatchObject({ name: 'cell', submitted: 90 });
  });

  it('fills a missing name later, never overwrites the ledger one', () => {
    const ev = { profile: 'hpc', kind: 'job', state: 'RUNNING', reason: '' };
    const out = mergeEvents(
      [job('a', { name: '' }), job('b', { name: 'train' })],
      [
        { ...ev, id: 'a', name: 'fit' },
        { ...ev, id: 'b', name: 'other' }
      ],
      100
    );
    expect(out.map(j => j.name)).toEqual(['fit', 'train']);
  });
});

describe('search', () => {
  const jobs = [
    job('20261130-aaa111', { name: 'train', native_id: '4711' }),
    job('20261130-bbb222', { name: 'cell' })
  ];
  it('matches name, id or scheduler id, case-insensitively, every word', () => {
    expect(filterJobs(jobs, { text: 'TRAIN' }).map(j => j.name)).toEqual(['train']);
    expect(filterJobs(jobs, { text: 'bbb' }).map(j => j.name)).toEqual(['cell']);
    expect(filterJobs(jobs, { text: '4711' }).map(j => j.name)).toEqual(['train']);
    expect(filterJobs(jobs, { text: '2026 cell' }).map(j => j.name)).toEqual(['cell']);
    expect(filterJobs(jobs, { text: '  ' })).toHaveLength(2);
    expect(filterJobs(jobs, { text: 'nothing' })).toHaveLength(0);
  });
});

describe('newlyEnded and endedMessage', () => {
  it('reports jobs that were active and have ended, not ones first seen ended', () => {
    const before = [job('a'), job('b', { state: 'COMPLETED' })];
    const after = [
      job('c', { state: 'FAILED' }),
      job('a', { state: 'FAILED', reason: 'exit code 1' }),
      job('b', { state: 'COMPLETED' })
    ];
    const ended = newlyEnded(before, after);
    expect(ended.map(j => j.id)).toEqual(['a']);
    expect(endedMessage(ended[0])).toBe('train a ended FAILED: exit code 1');
  });

  it('an array says its counts', () => {
    const arr = job('z', {
      kind: 'array',
      name: 'sq',
      state: 'COMPLETED',
      size: 3,
      counts: { COMPLETED: 3 }
    });
    expect(endedMessage(arr)).toBe('sq z ended COMPLETED: 3/3 done (3 completed)');
  });
});

describe('formatBytes', () => {
  it('says a result file size as people read it', () => {
    expect(formatBytes(61)).toBe('61 B');
    expect(formatBytes(3_000_045)).toBe('2.9 MB');
    expect(formatBytes(5 * 1024 ** 3)).toBe('5.0 GB');
    expect(formatBytes(null)).toBe('');
    expect(formatBytes(undefined)).toBe('');
  });
});

describe('itemIndices', () => {
  it('lists an array item per index', () => {
    expect(itemIndices(job('a', { kind: 'array', size: 3 }))).toEqual([0, 1, 2]);
    expect(itemIndices(job('a', { kind: 'array', counts: { PENDING: 2 } }))).toEqual([
      0, 1
    ]);
  });
});

describe('the ranks of a multi-task job', () => {
  it('offers no rank picker for a job of one task', () => {
    expect(rankChoices(1)).toEqual([]);
    expect(rankChoices(0)).toEqual([]);
  });
  it('offers every rank, rank 0 as the job’s own log', () => {
    expect(rankChoices(3)).toEqual([
      { value: 0, label: 'rank 0 (the job’s)' },
      { value: 1, label: 'rank 1' },
      { value: 2, label: 'rank 2' }
    ]);
  });
});
