import { describe, expect, it } from 'vitest';

import { resultActions } from '../src/jobs';
import { job } from './fixtures';

// Issue 25, defect 5: a job offers "Show result"/"Insert result" only when it has one.
describe('resultActions', () => {
  it('offers the value of a completed job, and the traceback of a failed one', () => {
    expect(resultActions(job('a', { state: 'COMPLETED', reason: '' }))).toEqual({
      show: 'Show result',
      insert: true
    });
    expect(
      resultActions(job('b', { state: 'FAILED', reason: 'raised ValueError' }))
    ).toEqual({
      show: 'Show traceback',
      insert: false
    });
  });

  it('offers nothing to read for cancelled, timed out, lost or never submitted jobs', () => {
    for (const state of ['CANCELLED', 'TIMEOUT', 'LOST']) {
      expect(resultActions(job('c', { state, reason: 'cancelled by you' }))).toEqual({
        show: null,
        insert: false
      });
    }
    const refused = job('d', {
      state: 'FAILED',
      reason: 'not submitted: cannot reach x'
    });
    expect(resultActions(refused)).toEqual({ show: null, insert: false });
    expect(resultActions(job('e', { state: 'RUNNING' }))).toEqual({
      show: null,
      insert: false
    });
  });

  it('offers an array its items once any completed (or failed: their tracebacks)', () => {
    const array = (counts: Record<string, number>, state: string) =>
      job('f', { kind: 'array', state, counts, size: 4 });
    expect(resultActions(array({ COMPLETED: 3, FAILED: 1 }, 'FAILED'))).toEqual({
      show: 'Show result',
      insert: true
    });
    expect(resultActions(array({ CANCELLED: 4 }, 'CANCELLED'))).toEqual({
      show: null,
      insert: false
    });
  });
});
