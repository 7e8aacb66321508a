import { describe, expect, it } from 'vitest';

import {
  arrayProgress,
  elapsedSeconds,
  filterJobs,
  formatElapsed,
  isTerminal,
  mergeEvents,
  profileNames,
  replaceJobs,
  resultSnippet
} from '../src/jobs';
import { IJobEvent } from '../src/protocol';
import { event, job } from './fixtures';

describe('mergeEvents', () => {
  it('updates state and reason in place and keeps the order', () => {
    const jobs = [job('b'), job('a')];
    const out = mergeEvents(
      jobs,
      [event('a', 'RUNNING', { reason: 'running on node1' })],
      200
    );
    expect(out.map(j => j.id)).toEqual(['b', 'a']);
    expect(out[1]).toMatchObject({
      state: 'RUNNING',
      reason: 'running on node1',
      started: 200
    });
    expect(jobs[1].state).toBe('PENDING'); // input not mutated
  });

  it('sets ended on a terminal state, keeps a known start time', () => {
    const out = mergeEvents(
      [job('a', { state: 'RUNNING', started: 150 })],
      [event('a', 'COMPLETED')],
      210
    );
    expect(out[0]).toMatchObject({ state: 'COMPLETED', started: 150, ended: 210 });
    expect(elapsedSeconds(out[0], 999)).toBe(60);
  });

  it('a finished job learns what it used from its event', () => {
    const out = mergeEvents(
      [job('a', { state: 'RUNNING', started: 150 })],
      [
        event('a', 'COMPLETED', {
          usage_text: 'elapsed 2.0s, CPU 0.1s, peak memory 212 MB',
          usage_hint: 'used 212 MB of 16 GB requested memory'
        })
      ],
      210
    );
    expect(out[0]).toMatchObject({
      usage_text: 'elapsed 2.0s, CPU 0.1s, peak memory 212 MB',
      usage_hint: 'used 212 MB of 16 GB requested memory'
    });
    const later = mergeEvents(out, [event('a', 'COMPLETED')], 220);
    expect(later[0].usage_text).toBe(out[0].usage_text); // kept when an event has none
  });

  it('shows the attempt of a requeued or retried job ("attempt 2 of 3")', () => {
    const out = mergeEvents(
      [job('a', { state: 'RUNNING', started: 150 })],
      [event('a', 'PENDING', { attempt_text: 'attempt 2 of 3' })],
      210
    );
    expect(out[0].attempt_text).toBe('attempt 2 of 3');
    const later = mergeEvents(out, [event('a', 'RUNNING')], 220);
    expect(later[0].attempt_text).toBe('attempt 2 of 3'); // kept when an event has none
  });

  it('applies a batch in order (last event wins)', () => {
    const out = mergeEvents(
      [job('a')],
      [event('a', 'RUNNING'), event('a', 'COMPLETED', { native_id: '42' })],
      300
    );
    expect(out[0]).toMatchObject({
      state: 'COMPLETED',
      native_id: '42',
      started: 300,
      ended: 300
    });
  });

  it('adds unknown jobs at the top, newest first', () => {
    const out = mergeEvents(
      [job('old')],
      [event('n1', 'PENDING'), event('n2', 'RUNNING')],
      400
    );
    expect(out.map(j => j.id)).toEqual(['n2', 'n1', 'old']);
    expect(out[0]).toMatchObject({ state: 'RUNNING', started: 400, submitted: 400 });
    expect(out[1].started).toBeNull();
  });

  it('an event for a job added earlier in the same batch updates it', () => {
    const out = mergeEvents([], [event('n', 'PENDING'), event('n', 'RUNNING')], 5);
    expect(out).toHaveLength(1);
    expect(out[0].state).toBe('RUNNING');
  });

  it('array events carry counts; items of a listed array are not added as rows', () => {
    const arr = job('arr', { kind: 'array', size: 3, counts: { PENDING: 3 } });
    const out = mergeEvents(
      [arr],
      [
        event('arr', 'RUNNING', {
          kind: 'array',
          counts: { RUNNING: 1, COMPLETED: 2 }
        }),
        event('arr:1', 'COMPLETED')
      ],
      10
    );
    expect(out).toHaveLength(1);
    expect(out[0].counts).toEqual({ RUNNING: 1, COMPLETED: 2 });
    expect(arrayProgress(out[0])).toEqual({
      done: 2,
      total: 3,
      text: '2/3 done (1 running, 2 completed)'
    });
  });

  it('ignores malformed events', () => {
    const out = mergeEvents(
      [job('a')],
      [null as unknown as IJobEvent, { state: 'X' } as IJobEvent],
      1
    );
    expect(out).toEqual([job('a')]);
  });
});

describe('replaceJobs', () => {
  it('keeps events that arrived while jobs.list was in flight', () => {
    const fresh = [job('a', { state: 'RUNNING', started: 1 })];
    const out = replaceJobs(fresh, [event('a', 'COMPLETED')], 9);
    expect(out[0].state).toBe('COMPLETED');
    expect(replaceJobs(fresh, [], 9)).toEqual(fresh);
  });
});

describe('filters and display', () => {
  const jobs = [
    job('1', { state: 'RUNNING' }),
    job('2', { state: 'COMPLETED', profile: 'local' }),
    job('3', { state: 'PENDING', profile: 'local' })
  ];

  it('filters by state, active and profile', () => {
    expect(filterJobs(jobs, {}).map(j => j.id)).toEqual(['1', '2', '3']);
    expect(filterJobs(jobs, { state: 'COMPLETED' }).map(j => j.id)).toEqual(['2']);
    expect(filterJobs(jobs, { state: 'active' }).map(j => j.id)).toEqual(['1', '3']);
    expect(
      filterJobs(jobs, { profile: 'local', state: 'active' }).map(j => j.id)
    ).toEqual(['3']);
  });

  it('terminal states', () => {
    expect(
      ['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'LOST'].every(isTerminal)
    ).toBe(true);
    expect(isTerminal('RUNNING') || isTerminal('PENDING')).toBe(false);
  });

  it('formats elapsed times', () => {
    expect(formatElapsed(null)).toBe('');
    expect(formatElapsed(5.9)).toBe('5s');
    expect(formatElapsed(723)).toBe('12m 03s');
    expect(formatElapsed(3 * 3600 + 4 * 60)).toBe('3h 04m');
    expect(formatElapsed(2 * 86400 + 5 * 3600)).toBe('2d 05h');
    expect(elapsedSeconds(job('x'), 10)).toBeNull();
    expect(elapsedSeconds(job('x', { started: 4 }), 10)).toBe(6);
  });

  it('lists profile names for the filter', () => {
    expect(profileNames(jobs, ['local', 'gpu'])).toEqual(['gpu', 'hpc', 'local']);
  });

  it('builds the result snippet with a quoted id', () => {
    expect(resultSnippet('20261123-1-ab')).toBe(
      'import clusterlab as cl\ncl.job("20261123-1-ab").result()'
    );
    // an array has one value per item: cl.job(ARRAY).result() raised AttributeError
    expect(resultSnippet('20261123-2-cd', 'array')).toBe(
      'import clusterlab as cl\ncl.job("20261123-2-cd").results()'
    );
  });

  it('no progress for single jobs', () => {
    expect(arrayProgress(job('a'))).toBeNull();
  });
});
